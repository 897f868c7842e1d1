// mizual-ship-logs beside its faults: odd containers, concurrent runs and a hung endpoint, a full
// disk, remote retention on a versioned bucket through the B2-strict proxy, bad configuration.
import { execa } from 'execa';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { processStartTime } from '../../src/core/lock.js';
import { dockerCli, startContainer, uniqueName } from '../harness/docker.js';
import { deleteKey, toolEnvFor } from '../harness/s3.js';
import { useBucket } from '../harness/bucket.js';
import { ROOT, runTool, scratchDir } from '../helpers/cli.js';
import { checkArchive, downloadAll, readArchiveFile, readTarGz } from './ship-logs-helpers.js';

const scratch = scratchDir('mizual-ship-faults-');
const mounts: string[] = [];
after(async () => {
  for (const m of mounts) await execa('umount', [m], { reject: false });
  scratch.cleanup();
});

const fx = useBucket('ship-faults', { versioned: true, docker: true });
let dirNo = 0;
after(async () => {});

/** A fresh environment: its own log, state and alert paths, uploading through the B2-strict proxy. */
function freshEnv(containers: string, extra: Record<string, string> = {}): Record<string, string> {
  const base = path.join(scratch.dir, `run${++dirNo}`);
  mkdirSync(base);
  return {
    MIZUAL_CONTAINERS: containers,
    MIZUAL_LOG_DIR: path.join(base, 'logs'),
    MIZUAL_STATE_DIR: path.join(base, 'state'),
    MIZUAL_ALERT_LOG: path.join(base, 'alerts.log'),
    MIZUAL_HOSTNAME: `faults-${dirNo}`,
    ...toolEnvFor(fx.s3, fx.bucket, fx.strict.url),
    MIZUAL_TEST_RETRY_DELAY_MS: '50',
    ...extra,
  };
}

const ship = (env: Record<string, string>, args: string[] = []) =>
  runTool('mizual-ship-logs', args, { env, cwd: scratch.dir });

function containerText(entries: ReturnType<typeof readTarGz>, short: string): Buffer {
  return Buffer.concat(entries.filter((e) => e.name.startsWith(`${short}-`)).map((e) => e.data));
}

describe('containers', () => {
  it('follows restarts, records recreated and missing containers, keeps invalid UTF-8 and a 1 MB line', async () => {
    const [rs, rc, odd] = [uniqueName('restart'), uniqueName('recreate'), uniqueName('odd')];
    await startContainer(rs, 'echo "restart start $(date +%s)-$RANDOM"; sleep 0.3; echo "restart before"');
    await startContainer(rc, 'echo "old container line"; sleep 60');
    // Invalid UTF-8 bytes, a 1 MB line (Docker splits it at 16 KiB) and an unfinished last line.
    await startContainer(
      odd,
      "printf 'bad \\377\\376 bytes\\n'; head -c 1048576 /dev/zero | tr '\\0' x; echo; echo after; printf 'no newline'",
    );
    // A hold on another mount (tmpfs) cannot link Docker's files: the run says so and ships anyway, so a
    // recreated container's unshipped lines are lost and named as a gap.
    const otherMount = mkdtempSync('/dev/shm/mizual-hold-');
    after(() => rmSync(otherMount, { recursive: true, force: true }));
    const env = freshEnv(`rs=${rs},rc=${rc},odd=${odd},gone=${uniqueName('never')}`, {
      STORAGE_PATH_PREFIX: 'preview',
      MIZUAL_HOLD_DIR: otherMount,
    });
    await sleep(3600); // windows end 2 s back, on a whole second
    const first = await ship(env, ['--json']);
    assert.equal(first.exitCode, 0, first.stderr);
    const summary = JSON.parse(first.stdout) as { archive: { path: string }; missing: { short: string }[] };
    assert.deepEqual(
      summary.missing.map((m) => m.short),
      ['gone'],
    );
    const entries = readArchiveFile(summary.archive.path);
    const manifest = checkArchive(entries);
    assert.equal(manifest.env, 'dev');
    assert.deepEqual(manifest.missing, [
      { short: 'gone', container: env.MIZUAL_CONTAINERS!.split('gone=')[1], reason: 'no such container' },
    ]);
    const oddText = containerText(entries, 'odd');
    // Docker's json-file driver stores U+FFFD for invalid bytes; we keep whatever bytes it returns.
    const replaced = Buffer.from([0x62, 0x61, 0x64, 0x20, 0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd, 0x20]);
    assert.ok(oddText.includes(replaced), 'the bytes Docker returned for invalid UTF-8');
    const lines = oddText.toString('latin1').split('\n');
    const long = lines.find((l) => l.length > 1_000_000) ?? '';
    // As `docker logs --timestamps` prints it: one line, each 16 KiB part with Docker's timestamp.
    assert.equal(long.replace(/\d{4}-\d{2}-\d{2}T[\d:.]+Z /g, ''), 'x'.repeat(1_048_576));
    assert.match(lines.at(-3) ?? '', /Z after$/);
    assert.match(lines.at(-2) ?? '', /Z no newline$/);
    const dockerSays = await execa('docker', ['logs', '--timestamps', odd], { encoding: 'buffer', reject: false });
    assert.ok(
      oddText.equals(Buffer.concat([dockerSays.stdout as Buffer, Buffer.from('\n')])),
      'same bytes as docker logs',
    );

    // Restart the first (same id), recreate the second (new id), then ship again.
    await dockerCli(['start', rs]);
    const oldId = (await dockerCli(['inspect', '-f', '{{.Id}}', rc])).trim();
    await dockerCli(['rm', '-f', rc]);
    const newId = await startContainer(rc, 'echo "new container line"; sleep 60');
    await sleep(3600); // windows end 2 s back, on a whole second
    const second = await ship(env, ['--json']);
    assert.equal(second.exitCode, 0, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`^mizual-ship-logs: ${rc} was recreated \\(${oldId.slice(0, 12)} → ${newId.slice(0, 12)}\\)`, 'm'),
    );
    assert.match(
      second.stderr,
      /^mizual-ship-logs: cannot hold log files: \/dev\/shm\/mizual-hold-\w+ is not on the same mount as \S+ \(set MIZUAL_HOLD_DIR to a directory on that mount\); shipping anyway$/m,
    );
    const next = readArchiveFile((JSON.parse(second.stdout) as { archive: { path: string } }).archive.path);
    const m2 = checkArchive(next);
    assert.equal(m2.gaps.length, 1);
    assert.equal(m2.gaps[0]?.oldContainerId, oldId);
    assert.equal(m2.gaps[0]?.newContainerId, newId);
    assert.match(containerText(next, 'rc').toString(), /^\S+ new container line\n$/);
    const restarted = containerText(next, 'rs').toString();
    assert.match(restarted, /^\S+ restart start \S+\n\S+ restart before\n$/);
    assert.ok(!containerText(entries, 'rs').toString().includes(restarted.split('\n')[0]!), 'the restart is new');
    assert.equal(containerText(next, 'odd').length, 0, 'nothing new from odd, nothing twice');
    const objects = await downloadAll(fx.store, 'logs/dev/');
    assert.equal([...objects.keys()].filter((k) => k.startsWith(`logs/dev/${env.MIZUAL_HOSTNAME}/`)).length, 2);
  });
});

describe('locking', () => {
  it('refuses a second run at once while a live process holds the lock, changing nothing', async () => {
    const env = freshEnv('x');
    const holder = execa('sleep', ['30'], { reject: false });
    await sleep(100);
    mkdirSync(env.MIZUAL_STATE_DIR!, { recursive: true });
    const lockPath = path.join(env.MIZUAL_STATE_DIR!, 'ship.lock');
    writeFileSync(lockPath, `${holder.pid} ${processStartTime(holder.pid!)}\n`);
    const started = Date.now();
    const result = await ship(env);
    holder.kill();
    assert.equal(result.exitCode, 1);
    assert.equal(result.stderr, `mizual-ship-logs: another mizual-ship-logs run (pid ${holder.pid}) holds ${lockPath}`);
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(readdirSync(env.MIZUAL_STATE_DIR!), ['ship.lock']);
    assert.equal(existsSync(env.MIZUAL_LOG_DIR!), false);
  });

  it('a run stuck on a silent endpoint gives up at its deadline; a concurrent one is refused; nothing is lost', async () => {
    const name = uniqueName('lock');
    await startContainer(name, 'echo one; sleep 60');
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const env = freshEnv(`l=${name}`);
    await sleep(2200);
    const started = Date.now();
    const stuck = execa(process.execPath, [path.join(ROOT, 'bin', 'mizual-ship-logs.js'), '--deadline', '4s'], {
      env: { ...env, S3_ENDPOINT_URL: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}` },
      extendEnv: false,
      reject: false,
      cwd: scratch.dir,
    });
    for (let t = 0; t < 50 && sockets.length === 0; t++) await sleep(100);
    const second = await ship(env);
    assert.equal(second.exitCode, 1);
    assert.match(
      second.stderr,
      new RegExp(`^mizual-ship-logs: another mizual-ship-logs run \\(pid ${stuck.pid}\\) holds `),
    );
    const stuckResult = await stuck;
    silent.close();
    for (const s of sockets) s.destroy();
    assert.equal(stuckResult.exitCode, 1);
    assert.match(
      String(stuckResult.stderr),
      /gave up after the 4 s deadline; the next run continues from the last checkpoint/,
    );
    assert.ok(Date.now() - started < 9000, 'the deadline held');
    assert.equal(existsSync(path.join(env.MIZUAL_STATE_DIR!, 'ship.lock')), false, 'lock released');
    const third = await ship(env);
    assert.equal(third.exitCode, 0, third.stderr);
    assert.match(third.stdout, /^uploaded logs\/dev\/faults-\d+\/.*\.tar\.gz/m);
  });
});

describe('recovery', () => {
  it('finishes a committed archive left as .partial and deletes uncommitted leftovers', async () => {
    const name = uniqueName('recover');
    await startContainer(name, 'echo recovered; sleep 60');
    await sleep(3200);
    const env = freshEnv(`r=${name}`);
    const first = await ship(env, ['--no-upload', '--json']);
    assert.equal(first.exitCode, 0, first.stderr);
    const archive = (JSON.parse(first.stdout) as { archive: { name: string; path: string } }).archive;
    const logDir = env.MIZUAL_LOG_DIR!;
    // As if the run died after committing the checkpoint but before the rename, and an older
    // uncommitted run left its partial archive and a spool behind.
    const bytes = readFileSync(archive.path);
    renameSync(archive.path, path.join(logDir, `.${archive.name}.partial`));
    writeFileSync(path.join(logDir, '.logs-20200101_000000.tar.gz.partial'), 'half');
    writeFileSync(path.join(logDir, '.spool-20200101_000000-r.gz'), 'half');
    await sleep(1100);
    const next = await ship(env);
    assert.equal(next.exitCode, 0, next.stderr);
    const names = readdirSync(logDir).sort();
    assert.ok(!names.some((n) => n.startsWith('.')), names.join(','));
    assert.ok(readFileSync(path.join(logDir, archive.name)).equals(bytes));
    assert.match(
      next.stdout,
      new RegExp(`^uploaded logs/dev/faults-\\d+/\\d{4}-\\d{2}-\\d{2}/${archive.name.replaceAll('.', '\\.')}`, 'm'),
    );
    const state = JSON.parse(readFileSync(path.join(env.MIZUAL_STATE_DIR!, 'ship-state.json'), 'utf8'));
    assert.deepEqual(state.pending, []);
    assert.ok(state.lastUploadAt);
  });
});

describe('disk full', () => {
  it('leaves the checkpoint unmoved and loses nothing when MIZUAL_LOG_DIR fills up', async () => {
    const name = uniqueName('full');
    // About 1 MB of poorly compressible lines.
    await startContainer(
      name,
      'i=0; while [ $i -lt 12000 ]; do i=$((i+1)); echo "$i $RANDOM$RANDOM$RANDOM$RANDOM $RANDOM$RANDOM$RANDOM"; done; sleep 60',
    );
    const env = freshEnv(`f=${name}`, { MIZUAL_TEST_RETRY_DELAY_MS: '50' });
    mkdirSync(env.MIZUAL_LOG_DIR!);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', env.MIZUAL_LOG_DIR!]);
    mounts.push(env.MIZUAL_LOG_DIR!);
    await sleep(3000);
    const full = await ship(env, ['--no-upload']);
    assert.equal(full.exitCode, 1);
    assert.equal(
      full.stderr,
      `mizual-ship-logs: disk full writing to ${env.MIZUAL_LOG_DIR}: no archive written, checkpoint not moved`,
    );
    assert.deepEqual(readdirSync(env.MIZUAL_LOG_DIR!), [], 'no partial or spool file left');
    const stateFile = path.join(env.MIZUAL_STATE_DIR!, 'ship-state.json');
    assert.equal(existsSync(stateFile), false, 'no checkpoint written');
    await execa('mount', ['-o', 'remount,size=8m', env.MIZUAL_LOG_DIR!]);
    const ok = await ship(env, ['--json']);
    assert.equal(ok.exitCode, 0, ok.stderr);
    const entries = readArchiveFile((JSON.parse(ok.stdout) as { archive: { path: string } }).archive.path);
    const numbers = containerText(entries, 'f')
      .toString()
      .trim()
      .split('\n')
      .map((l) => Number(l.split(' ')[1]));
    assert.deepEqual(
      numbers,
      Array.from({ length: 12000 }, (_, i) => i + 1),
    );
  });
});

describe('--prune', () => {
  it('removes every version of old archives under its own prefix only; --dry-run changes nothing', async () => {
    const env = freshEnv('x', {
      STORAGE_PATH_PREFIX: 'production',
      MIZUAL_HOSTNAME: 'prune-host',
      MIZUAL_RETENTION_DAYS: '30',
    });
    const today = new Date().toISOString().slice(0, 10);
    const stampOf = (date: string) => `${date.replaceAll('-', '')}_120000`;
    const key = (e: string, host: string, date: string) => `logs/${e}/${host}/${date}/logs-${stampOf(date)}.tar.gz`;
    const old = '2025-01-23';
    const recent = new Date(Date.now() - 5 * 86_400_000).toISOString().slice(0, 10);
    const doomed = [key('prod', 'prune-host', old), key('prod', 'prune-host', '2025-02-01')];
    const kept = [
      key('prod', 'prune-host', today),
      key('prod', 'prune-host', recent),
      key('prod', 'other-host', old),
      key('dev', 'prune-host', old),
      'logs/prod/prune-host/notes.txt',
      `logs/prod/prune-host-2/${old}/logs-${stampOf(old)}.tar.gz`,
    ];
    const file = path.join(scratch.dir, 'object.bin');
    writeFileSync(file, 'archive bytes');
    for (const k of [...doomed, ...kept]) await fx.store.putFile(k, file);
    await fx.store.putFile(doomed[0]!, file); // a second version
    await deleteKey(fx.s3, fx.bucket, doomed[1]!); // a delete marker over a hidden version
    mkdirSync(env.MIZUAL_LOG_DIR!, { recursive: true });
    writeFileSync(path.join(env.MIZUAL_LOG_DIR!, `logs-${stampOf(old)}.tar.gz`), 'old local');
    writeFileSync(path.join(env.MIZUAL_LOG_DIR!, `logs-${stampOf(today)}.tar.gz`), 'today local');
    const versionsBefore = (await fx.store.listVersions('logs/')).length;

    const dry = await ship(env, ['--prune', '--dry-run']);
    assert.equal(dry.exitCode, 0, dry.stderr);
    assert.equal(dry.stderr, '');
    assert.equal(
      dry.stdout,
      `would delete local logs-${stampOf(old)}.tar.gz\n` +
        `would delete ${doomed[0]} (2 version(s), 26 B)\n` +
        `would delete ${doomed[1]} (2 version(s), 13 B)`,
    );
    assert.equal((await fx.store.listVersions('logs/')).length, versionsBefore);
    assert.equal(readdirSync(env.MIZUAL_LOG_DIR!).length, 2);

    const real = await ship(env, ['--prune', '--json']);
    assert.equal(real.exitCode, 0, real.stderr);
    const report = JSON.parse(real.stdout) as { local: string[]; remote: { key: string; versions: number }[] };
    assert.deepEqual(
      report.remote.map((r) => r.key),
      doomed,
    );
    const left = await fx.store.listVersions('logs/');
    assert.equal(left.filter((v) => doomed.includes(v.key)).length, 0, 'every version and marker gone');
    const ours = left.filter((v) => [...kept, ...doomed].includes(v.key));
    assert.deepEqual([...new Set(ours.map((v) => v.key))].sort(), [...kept].sort());
    assert.deepEqual(readdirSync(env.MIZUAL_LOG_DIR!), [`logs-${stampOf(today)}.tar.gz`]);
    assert.deepEqual(fx.strict.rejected, []);
  });
});

describe('configuration and secrets', () => {
  it('a missing variable or a bad endpoint URL is exit 2 with one line', async () => {
    const env = freshEnv('x');
    delete env.S3_BUCKET_NAME;
    const missing = await ship(env);
    assert.equal(missing.exitCode, 2);
    assert.match(
      missing.stderr,
      /^mizual-ship-logs: S3_BUCKET_NAME is not set \(set it in the environment or a \.env file\)$/,
    );
    const badUrl = await ship({ ...freshEnv('x'), S3_ENDPOINT_URL: 'not a url' });
    assert.equal(badUrl.exitCode, 2);
    assert.match(badUrl.stderr, /^mizual-ship-logs: S3_ENDPOINT_URL is not a URL[^\n]*$/);
    const badWindow = await ship(freshEnv('x'), ['--window', 'soon']);
    assert.equal(badWindow.exitCode, 2);
    assert.equal(badWindow.stderr.split('\n').length, 1);
  });

  it('--dry-run and --no-upload need no S3 settings; --dry-run writes nothing', async () => {
    const name = uniqueName('dry');
    await startContainer(name, 'echo dry; sleep 60');
    await sleep(2200);
    const env = freshEnv(`d=${name}`);
    for (const k of ['S3_BUCKET_NAME', 'S3_ENDPOINT_URL', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) delete env[k];
    const dry = await ship(env, ['--dry-run']);
    assert.equal(dry.exitCode, 0, dry.stderr);
    assert.match(dry.stdout, /^dry run: window ending /);
    assert.match(dry.stdout, /d-\d{8}_\d{6}\.log \S+ \.\. \S+/);
    assert.equal(existsSync(env.MIZUAL_LOG_DIR!), false);
    assert.equal(existsSync(env.MIZUAL_STATE_DIR!), false);
    const local = await ship(env, ['--no-upload']);
    assert.equal(local.exitCode, 0, local.stderr);
    assert.equal(statSync(env.MIZUAL_LOG_DIR!).mode & 0o777, 0o700);
    const [archive] = readdirSync(env.MIZUAL_LOG_DIR!);
    assert.match(archive ?? '', /^logs-\d{8}_\d{6}\.tar\.gz$/);
    assert.equal(statSync(path.join(env.MIZUAL_LOG_DIR!, archive!)).mode & 0o777, 0o600);
    const listing = (await execa('tar', ['-tzf', path.join(env.MIZUAL_LOG_DIR!, archive!)])).stdout.split('\n');
    const stamp = archive!.slice(5, 20);
    assert.deepEqual(listing, [`d-${stamp}.log`, `alerts-${stamp}.log`, 'manifest.json']);
  });

  it('a wrong secret fails with one line; no secret from .env reaches output or the archive', async () => {
    const name = uniqueName('secret');
    await startContainer(name, 'echo hello; sleep 60');
    await sleep(2200);
    const env = freshEnv(`s=${name}`);
    const wrongSecret = 'WRONG-secret-value-0123456789abcdefXYZ';
    const appSecret = 'postgres://app:db-password-77f1c9@db/app';
    const envFile = path.join(scratch.dir, 'app.env');
    writeFileSync(
      envFile,
      `S3_SECRET_ACCESS_KEY=${wrongSecret}\nDATABASE_URL=${appSecret}\nSTRIPE_KEY=sk_live_abcdef123456\n`,
    );
    delete env.S3_SECRET_ACCESS_KEY;
    const result = await ship(env, ['--env-file', envFile, '--debug']);
    assert.equal(result.exitCode, 1);
    assert.match(
      result.stderr,
      // A fresh state directory: the bucket, refusing the secret, could not say where to continue from
      // either; one cause, one line.
      /^mizual-ship-logs: 1 archive\(s\) wait for upload: S3 request failed: SignatureDoesNotMatch on PutObject \(check S3_SECRET_ACCESS_KEY\); kept in \S+ for the next run; with no local state, this run started from the last --window \(the bucket could not say where the last archive ended\)\n/,
    );
    const archives = readdirSync(env.MIZUAL_LOG_DIR!).map((n) => readFileSync(path.join(env.MIZUAL_LOG_DIR!, n)));
    const unpacked = archives.flatMap((a) => readTarGz(a).map((e) => e.data.toString('latin1')));
    for (const secret of [
      wrongSecret,
      appSecret,
      'db-password-77f1c9',
      'sk_live_abcdef123456',
      fx.s3.secretAccessKey,
    ]) {
      for (const text of [result.stdout, result.stderr, ...unpacked])
        assert.ok(!text.includes(secret), 'secret leaked');
    }
  });
});
