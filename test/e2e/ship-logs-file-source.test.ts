// The file source against the real engine: the same bytes as the Engine API path, the fallbacks to
// the API (remote engine, another log driver, a file we may not read), and the counting test of a
// deploy day: watchtower-style replacements with --hold, rotation with and without compression, a
// container stopped a second before a run and removed right after, a run SIGKILLed mid-read.
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  dockerCli,
  ensureDocker,
  removeStartedContainers,
  startContainer,
  tcpDoorToDocker,
  uniqueName,
  waitForState,
} from '../harness/docker.js';
import { ROOT, runTool, scratchDir } from '../helpers/cli.js';
import {
  assertEachOnce,
  checkArchive,
  lastNumbers,
  numberedLines,
  numberedScript,
  readArchiveFile,
  type TarEntry,
} from './ship-logs-helpers.js';

const scratch = scratchDir('mizual-file-source-');
after(scratch.cleanup);

interface FileInfo {
  name: string;
  short?: string;
  containerId?: string;
  source?: string;
  sourceReason?: string;
  completedFromHold?: { containerId: string; lines: number }[];
}

let dirNo = 0;
/** A fresh environment for --no-upload runs, with its own hold so parallel tests never share one. */
function freshEnv(containers: string, extra: Record<string, string> = {}): Record<string, string> {
  const base = path.join(scratch.dir, `run${++dirNo}`);
  mkdirSync(base, { recursive: true });
  return {
    MIZUAL_CONTAINERS: containers,
    MIZUAL_LOG_DIR: path.join(base, 'logs'),
    MIZUAL_STATE_DIR: path.join(base, 'state'),
    MIZUAL_ALERT_LOG: path.join(base, 'alerts.log'),
    MIZUAL_HOLD_DIR: path.join('/var/lib/docker', `mizual-hold-test-${process.pid}-${dirNo}`),
    MIZUAL_HOSTNAME: `fs-${dirNo}`,
    ...extra,
  };
}

const ship = (env: Record<string, string>, args: string[] = []) =>
  runTool('mizual-ship-logs', ['--no-upload', ...args], { env, cwd: scratch.dir });

function archives(env: Record<string, string>): TarEntry[][] {
  const dir = env.MIZUAL_LOG_DIR as string;
  return readdirSync(dir)
    .filter((n) => /^logs-\d{8}_\d{6}\.tar\.gz$/.test(n))
    .sort()
    .map((n) => readArchiveFile(path.join(dir, n)));
}

function entryOf(entries: TarEntry[], short: string): Buffer {
  return Buffer.concat(entries.filter((e) => e.name.startsWith(`${short}-`)).map((e) => e.data));
}

function filesOf(entries: TarEntry[]): FileInfo[] {
  return (checkArchive(entries) as unknown as { files: FileInfo[] }).files;
}

before(async () => {
  await ensureDocker();
});
after(async () => {
  await removeStartedContainers();
  for (const name of readdirSync('/var/lib/docker').filter((n) => n.startsWith(`mizual-hold-test-${process.pid}-`))) {
    await execa('rm', ['-rf', path.join('/var/lib/docker', name)]);
  }
});

describe('file source and API source', () => {
  it('write the same bytes: a 40 KB line, invalid UTF-8, escapes, a TTY container, no final newline', async () => {
    const odd = uniqueName('same-odd');
    const tty = uniqueName('same-tty');
    await startContainer(
      odd,
      "printf 'bad \\377\\376 bytes\\n'; head -c 40000 /dev/zero | tr '\\0' a; echo; echo '<tag> & \"q\" \\\\ \t tab' >&2; " +
        'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; done; printf \'no newline\'',
    );
    await startContainer(tty, "echo 'tty one'; printf 'tty two\\n'; printf 'tty unfinished'", { tty: true });
    await waitForState(odd, ['exited']);
    await waitForState(tty, ['exited']);
    const door = await tcpDoorToDocker();
    try {
      const fileEnv = freshEnv(`odd=${odd},tty=${tty}`);
      const apiEnv = freshEnv(`odd=${odd},tty=${tty}`, { DOCKER_HOST: door.host });
      const viaFile = await ship(fileEnv, ['--window', '1h']);
      assert.equal(viaFile.exitCode, 0, viaFile.stderr);
      const viaApi = await ship(apiEnv, ['--window', '1h']);
      assert.equal(viaApi.exitCode, 0, viaApi.stderr);
      const [fileArchive] = archives(fileEnv);
      const [apiArchive] = archives(apiEnv);
      assert.ok(fileArchive && apiArchive);
      for (const short of ['odd', 'tty']) {
        const a = entryOf(fileArchive, short);
        const b = entryOf(apiArchive, short);
        assert.ok(a.length > 40_000 || short === 'tty', `${short} has its lines`);
        assert.ok(a.equals(b), `${short}: the file source wrote the API path's bytes`);
      }
      // Both hold every line the program wrote, the long one too (its pieces carry Docker's timestamp).
      const text = entryOf(fileArchive, 'odd').toString('latin1');
      for (let n = 1; n <= 300; n++)
        assert.match(text, new RegExp(`Z out ${n}\\n[^]*Z err ${n}\\n|Z err ${n}\\n[^]*Z out ${n}\\n`));
      assert.equal((text.match(/a{100,}/g) ?? []).join('').length, 40_000);
      assert.ok(text.endsWith('Z no newline\n'));
      assert.match(entryOf(fileArchive, 'tty').toString(), /Z tty one\r\n\S+ tty two\r\n\S+ tty unfinished\n$/);
      const fileSources = filesOf(fileArchive).filter((f) => f.short);
      const apiSources = filesOf(apiArchive).filter((f) => f.short);
      assert.deepEqual(
        fileSources.map((f) => f.source),
        ['file', 'file'],
      );
      assert.deepEqual(
        apiSources.map((f) => f.source),
        ['api', 'api'],
      );
      assert.match(apiSources[0]?.sourceReason ?? '', /the Docker engine is remote \(tcp:\/\/127\.0\.0\.1:\d+\)/);
      assert.match(viaApi.stdout, /odd-\d{8}_\d{6}\.log .* from the Engine API \(the Docker engine is remote/);
    } finally {
      await door.close();
    }
  });

  it('falls back to the API for the local log driver, and for a log file it may not read', async () => {
    const local = uniqueName('local-driver');
    const plain = uniqueName('plain');
    await startContainer(local, 'echo "local one"; echo "local two" >&2', { logDriver: 'local' });
    await startContainer(plain, 'echo "plain one"');
    await waitForState(local, ['exited']);
    await waitForState(plain, ['exited']);
    const env = freshEnv(`local=${local}`);
    const run = await ship(env, ['--window', '1h']);
    assert.equal(run.exitCode, 0, run.stderr);
    const [entries] = archives(env);
    const [file] = filesOf(entries!).filter((f) => f.short);
    assert.equal(file?.source, 'api');
    assert.match(file?.sourceReason ?? '', /the local log driver keeps no json-file/);
    // stdout and stderr are copied by two goroutines: either may come first.
    assert.deepEqual(
      entryOf(entries!, 'local')
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/^\S+Z /, ''))
        .sort(),
      ['local one', 'local two'],
    );

    // A member of the docker group, not root: the socket answers, the 0640 root log file does not open.
    const group = (await execa('getent', ['group', 'docker'], { reject: false })).stdout.split(':')[2];
    assert.ok(group, 'the docker group exists');
    const nobody = freshEnv(`plain=${plain}`);
    const base = path.dirname(nobody.MIZUAL_LOG_DIR as string);
    chmodSync(scratch.dir, 0o755);
    chownSync(base, 65534, Number(group));
    const asNobody = await execa(
      'setpriv',
      [
        '--reuid=65534',
        `--regid=${group}`,
        '--clear-groups',
        process.execPath,
        path.join(ROOT, 'bin', 'mizual-ship-logs.js'),
        '--no-upload',
        '--window',
        '1h',
      ],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: base, ...nobody },
        extendEnv: false,
        cwd: base,
        reject: false,
      },
    );
    assert.equal(asNobody.exitCode, 0, String(asNobody.stderr));
    assert.match(String(asNobody.stderr), /cannot hold log files: .*; shipping anyway/);
    const [plainEntries] = archives(nobody);
    const [plainFile] = filesOf(plainEntries!).filter((f) => f.short);
    assert.equal(plainFile?.source, 'api');
    assert.match(plainFile?.sourceReason ?? '', /its log file is not readable \(EACCES; run as root\)/);
    assert.match(entryOf(plainEntries!, 'plain').toString(), /Z plain one\n$/);
  });
});

describe('counting test: a deploy day on the file source', () => {
  it('ships every numbered line exactly once across replacements, rotation, a stop before a run and a kill', async () => {
    const app = uniqueName('deploy-app');
    const chatty = uniqueName('rotating');
    const packed = uniqueName('rotating-gz');
    const brief = uniqueName('brief');
    const numbered = (tag: string, pause = '0.01') => numberedScript(tag, pause);
    const env = freshEnv(`app=${app},chatty=${chatty},packed=${packed},brief=${brief}`);
    const expected = new Map<string, number>();
    /** The last number a container printed on each stream, from the engine (before it is removed). */
    const remember = (name: string, tag: string) => lastNumbers(name, tag, expected);
    const hold = async () => {
      const held = await runTool('mizual-ship-logs', ['--hold'], { env, cwd: scratch.dir });
      assert.equal(held.exitCode, 0, held.stderr);
      assert.equal(held.stdout, '');
    };
    const shipped = async (label: string, stderr = /^$/) => {
      const run = await ship(env);
      assert.equal(run.exitCode, 0, `${label}: ${run.stderr}`);
      assert.match(run.stderr, stderr, label);
      return run;
    };

    await startContainer(app, numbered('app0'));
    // About 5 KB/s: a new generation every two seconds, several per run, none rotated away unread.
    await startContainer(chatty, numbered('chatty', '0.03'), { logOpts: { 'max-size': '10k', 'max-file': '5' } });
    await startContainer(packed, numbered('packed', '0.03'), {
      logOpts: { 'max-size': '10k', 'max-file': '5', compress: 'true' },
    });
    await hold();
    await sleep(800);
    await shipped('first run');

    // Three watchtower deploys between two runs: kill, rm -f about a second later, the same name anew,
    // with --hold (cron, every minute) in between.
    for (let deploy = 1; deploy <= 3; deploy++) {
      await hold();
      await sleep(400);
      await dockerCli(['kill', app]);
      await sleep(1000);
      await remember(app, `app${deploy - 1}`);
      await dockerCli(['rm', '-f', app]);
      await startContainer(app, numbered(`app${deploy}`));
      await sleep(300);
    }
    await hold();
    const afterDeploys = await shipped('after three deploys');
    assert.match(afterDeploys.stdout, /lines of [0-9a-f]{12}, which is gone, finished from the hold/);

    // A container that stops a second before a run and is removed right after it: shipped to its end.
    await startContainer(
      brief,
      'i=0; while [ $i -lt 50 ]; do i=$((i+1)); echo "brief out $i"; echo "brief err $i" >&2; done; printf "brief out 51"',
    );
    await waitForState(brief, ['exited']);
    await sleep(1000);
    await shipped('right after brief stopped');
    await dockerCli(['rm', '-f', brief]);
    expected.set('brief out', 51);
    expected.set('brief err', 50);

    // A run killed while it reads: nothing it read counts, the next run reads it again.
    await sleep(1500);
    const logDir = env.MIZUAL_LOG_DIR as string;
    const child = execa(process.execPath, [path.join(ROOT, 'bin', 'mizual-ship-logs.js'), '--no-upload'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      extendEnv: false,
      cwd: scratch.dir,
      reject: false,
    });
    for (let t = 0; t < 400 && !readdirSync(logDir).some((n) => n.startsWith('.spool-')); t++) await sleep(5);
    child.kill('SIGKILL');
    await child;
    await sleep(700);
    await shipped(
      'after the kill',
      /^(mizual-ship-logs: took over the lock \S+ left by pid \d+, which is no longer running)?$/,
    );

    // End: stop every writer, remember what they printed, and one last run.
    await dockerCli(['kill', app, chatty, packed]);
    await remember(app, 'app3');
    await remember(chatty, 'chatty');
    await remember(packed, 'packed');
    await shipped('last run');

    let fromHold = 0;
    for (const entries of archives(env)) {
      for (const f of filesOf(entries)) {
        if (f.short) assert.equal(f.source, 'file', `${f.name} from the log files`);
        // The brief container was shipped to its end before it was removed: finished with 0 lines.
        fromHold += (f.completedFromHold ?? []).filter((h) => h.lines > 0).length;
      }
    }
    assert.equal(fromHold, 3, 'each replaced container finished from the hold, with the lines it wrote after the run');
    assertEachOnce(numberedLines(archives(env)), expected);
    assert.ok(expected.size >= 12);
  });
});
