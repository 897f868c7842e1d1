// Issue 19, the shipper's core: a run killed or failing at each of its steps (archive, state, rename,
// release, upload) and every numbered line still lands exactly once; the hold's release and meta.json;
// an engine whose data root is not visible; never overwriting an object in the bucket; what each gap
// says; a reinstall (no local state) continuing from the bucket's newest manifest.
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createStore, type Store } from '../../src/store/client.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import {
  dockerCli,
  ensureDocker,
  removeStartedContainers,
  startContainer,
  tcpDoorToDocker,
  uniqueName,
  waitForState,
} from '../harness/docker.js';
import {
  createTestBucket,
  ensureS3,
  removeTestBucket,
  storeConfigFor,
  toolEnvFor,
  type S3TestEnv,
} from '../harness/s3.js';
import { ROOT, runTool, scratchDir, type CliResult } from '../helpers/cli.js';
import {
  assertEachOnce,
  checkArchive,
  downloadAll,
  lastNumbers,
  numberedLines,
  numberedScript,
  readArchiveFile,
  readTarGz,
  type TarEntry,
} from './ship-logs-helpers.js';

const scratch = scratchDir('mizual-ship-hardening-');
let s3: S3TestEnv;
let bucket: string;
let store: Store;
let dirNo = 0;

/** Refuses every request at once (a permanent error is not retried): "the bucket is down", fast. */
let refusing: FaultProxy;

before(async () => {
  await ensureDocker();
  s3 = await ensureS3();
  bucket = await createTestBucket(s3, { tag: 'ship-hardening' });
  store = await createStore(storeConfigFor(s3, bucket));
  refusing = await startFaultProxy(s3.endpoint, () => ({ kind: 'error', status: 403, code: 'AccessDenied' }));
});
after(async () => {
  await refusing?.close();
  await removeStartedContainers();
  store?.close();
  if (bucket) await removeTestBucket(s3, bucket);
  for (const name of readdirSync('/var/lib/docker').filter((n) => n.startsWith(`mizual-hold-hard-${process.pid}-`))) {
    rmSync(path.join('/var/lib/docker', name), { recursive: true, force: true });
  }
  scratch.cleanup();
});

/** A fresh environment uploading to the test bucket, with its own hold on Docker's mount. */
function freshEnv(containers: string, extra: Record<string, string> = {}): Record<string, string> {
  const base = path.join(scratch.dir, `run${++dirNo}`);
  mkdirSync(base, { recursive: true });
  return {
    MIZUAL_CONTAINERS: containers,
    MIZUAL_LOG_DIR: path.join(base, 'logs'),
    MIZUAL_STATE_DIR: path.join(base, 'state'),
    MIZUAL_ALERT_LOG: path.join(base, 'alerts.log'),
    MIZUAL_HOLD_DIR: path.join('/var/lib/docker', `mizual-hold-hard-${process.pid}-${dirNo}`),
    MIZUAL_HOSTNAME: `hard-${process.pid}-${dirNo}`,
    MIZUAL_TEST_RETRY_DELAY_MS: '50',
    ...toolEnvFor(s3, bucket),
    ...extra,
  };
}

const ship = (env: Record<string, string>, args: string[] = []): Promise<CliResult> =>
  runTool('mizual-ship-logs', args, { env, cwd: scratch.dir });

/** The archives of this host in the bucket, oldest first. */
async function bucketArchives(env: Record<string, string>): Promise<TarEntry[][]> {
  const objects = await downloadAll(store, `logs/dev/${env.MIZUAL_HOSTNAME}/`);
  return [...objects.keys()].sort().map((key) => readTarGz(objects.get(key) as Buffer));
}

/** The archives in MIZUAL_LOG_DIR, oldest first. */
function localArchives(env: Record<string, string>): TarEntry[][] {
  const dir = env.MIZUAL_LOG_DIR as string;
  return readdirSync(dir)
    .filter((n) => /^logs-\d{8}_\d{6}\.tar\.gz$/.test(n))
    .sort()
    .map((n) => readArchiveFile(path.join(dir, n)));
}

const LOCK_TAKEOVER = /^mizual-ship-logs: took over the lock \S+ left by pid \d+, which is no longer running$/;

describe('a run killed or failing at each step', () => {
  it('ships every numbered line to the bucket exactly once (archive → state → rename → release → upload)', async () => {
    const name = uniqueName('steps');
    await startContainer(name, numberedScript('steps'));
    const env = freshEnv(`steps=${name}`);
    const state = () => JSON.parse(readFileSync(path.join(env.MIZUAL_STATE_DIR!, 'ship-state.json'), 'utf8'));
    const run = async (label: string, fault?: string, extra: Record<string, string> = {}) => {
      await sleep(300);
      const result = await ship({ ...env, ...(fault ? { MIZUAL_TEST_FAULT: fault } : {}), ...extra });
      const stderr = result.stderr
        .split('\n')
        .filter((l) => l && !LOCK_TAKEOVER.test(l))
        .join('\n');
      return { ...result, stderr, label };
    };
    const ok = async (label: string) => {
      const r = await run(label);
      assert.equal(r.exitCode, 0, `${label}: ${r.stderr}`);
      assert.equal(r.stderr, '', label);
    };

    await ok('first run');
    for (const step of ['archive-written', 'state-write', 'rename', 'uploaded']) {
      for (const action of ['kill', 'fail']) {
        // An archive that could not go up waits in the state: a later step of the same run saves the
        // state again (after uploading it), which must not record what the failed step never archived.
        const down = await run(`${step}:${action} (upload refused)`, undefined, { S3_ENDPOINT_URL: refusing.url });
        assert.equal(down.exitCode, 1, down.stderr);
        assert.equal(state().pending.length, 1, 'the archive waits');
        const faulty = await run(`${step}:${action}`, `${step}:${action}`);
        assert.notEqual(faulty.exitCode, 0, `${step}:${action} failed the run`);
        if (action === 'fail') {
          // One line saying what failed (a committed archive that could not be renamed is not an upload error).
          assert.match(faulty.stderr, new RegExp(`^mizual-ship-logs: [^\n]*injected fault at ${step}[^\n]*$`), step);
        }
        await ok(`after ${step}:${action}`);
        assert.deepEqual(state().pending, [], `after ${step}:${action}: nothing waits`);
      }
    }
    await dockerCli(['kill', name]);
    const expected = new Map<string, number>();
    await lastNumbers(name, 'steps', expected);
    await ok('last run');
    assertEachOnce(numberedLines(await bucketArchives(env)), expected);
    // What is local is what is in the bucket (no archive lost locally, none extra).
    assert.deepEqual(numberedLines(localArchives(env)), numberedLines(await bucketArchives(env)));
  });
});

describe('the hold', () => {
  it('keeps what a failed release leaves out of every later run, and a hold killed before meta.json still ships', async () => {
    const app = uniqueName('rel-app');
    const brief = uniqueName('rel-brief');
    // brief comes first: the killed --hold below stops inside its hold.
    const env = freshEnv(`brief=${brief},app=${app}`);
    const hold = async (fault?: string) =>
      runTool('mizual-ship-logs', ['--hold'], { env: { ...env, ...(fault ? { MIZUAL_TEST_FAULT: fault } : {}) } });
    const run = async (label: string, fault?: string) => {
      await sleep(300);
      const r = await ship({ ...env, ...(fault ? { MIZUAL_TEST_FAULT: fault } : {}) }, ['--no-upload']);
      assert.equal(r.exitCode, 0, `${label}: ${r.stderr}`);
      return r;
    };
    const expected = new Map<string, number>();
    await startContainer(app, numberedScript('app0'));
    assert.equal((await hold()).exitCode, 0);
    await sleep(500);
    await run('first');
    // A deploy: the old container is held, killed, removed, replaced.
    assert.equal((await hold()).exitCode, 0);
    await sleep(300);
    await dockerCli(['kill', app]);
    await lastNumbers(app, 'app0', expected);
    await dockerCli(['rm', '-f', app]);
    await startContainer(app, numberedScript('app1'));
    const finished = await run('finish the old one, its release failing', 'release:fail');
    assert.match(finished.stdout, /lines of [0-9a-f]{12}, which is gone, finished from the hold/);
    assert.match(finished.stderr, /could not let go of held log files: injected fault at release/);
    const again = await run('the next release fails too', 'release:fail');
    assert.match(again.stderr, /could not let go of held log files: injected fault at release/);
    await run('release works');

    // A container held by a --hold killed right after its links: removed before any other hold.
    await startContainer(
      brief,
      'i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo "brief out $i"; echo "brief err $i" >&2; done',
    );
    await waitForState(brief, ['exited']);
    expected.set('brief out', 40).set('brief err', 40);
    const killed = await hold('hold-linked:kill');
    assert.notEqual(killed.exitCode, 0);
    await dockerCli(['rm', '-f', brief]);
    await run('ships brief from the hold');
    await dockerCli(['kill', app]);
    await lastNumbers(app, 'app1', expected);
    await run('last');
    assertEachOnce(numberedLines(localArchives(env)), expected);
    assert.deepEqual(readdirSync(env.MIZUAL_HOLD_DIR!).length, 1, 'only the live app is held');
  });
});

describe('an engine whose data root is not visible', () => {
  it('reads through the Engine API and says so in the manifest and in --check', async () => {
    const name = uniqueName('hidden-root');
    await startContainer(
      name,
      'i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo "hidden out $i"; echo "hidden err $i" >&2; done; sleep 60',
    );
    await sleep(2500);
    const env = freshEnv(`hidden=${name}`);
    // As in a container (or with a forwarded socket): the socket answers, /var/lib/docker is not there.
    const inNamespace = (args: string[]) =>
      execa(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount -t tmpfs tmpfs /var/lib/docker && exec "$@"',
          'sh',
          process.execPath,
          path.join(ROOT, 'bin', 'mizual-ship-logs.js'),
          ...args,
        ],
        {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
          extendEnv: false,
          cwd: scratch.dir,
          reject: false,
        },
      );
    const check = await inNamespace(['--check']);
    assert.match(
      String(check.stdout),
      /^ok {4}container hidden: \S+ running, read through the Engine API: its log directory \S+ is not visible here/m,
    );
    const result = await inNamespace(['--no-upload', '--json']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    const summary = JSON.parse(String(result.stdout)) as { archive: { path: string } };
    const entries = readArchiveFile(summary.archive.path);
    const file = checkArchive(entries).files.find((f) => f.name.startsWith('hidden-')) as {
      source?: string;
      sourceReason?: string;
      lines: number;
    };
    assert.equal(file.source, 'api');
    assert.match(file.sourceReason ?? '', /its log directory \S+ is not visible here/);
    assertEachOnce(
      numberedLines([entries]),
      new Map([
        ['hidden out', 30],
        ['hidden err', 30],
      ]),
    );
  });
});

describe('the bucket', () => {
  it('never overwrites an object at the key an archive would take', async () => {
    const name = uniqueName('taken');
    await startContainer(name, numberedScript('taken', '0.05'));
    const env = freshEnv(`taken=${name}`);
    const host = env.MIZUAL_HOSTNAME!;
    const before = await ship(env, ['--json']);
    assert.equal(before.exitCode, 0, before.stderr);
    const beforeEnd = Date.parse((JSON.parse(before.stdout) as { window: { end: string } }).window.end);
    const foreign = path.join(scratch.dir, 'foreign.bin');
    writeFileSync(foreign, 'another install wrote this');
    // Another writer (a reinstall, a clock stepped back) holds every second of the next ten.
    const start = Math.floor(beforeEnd / 1000) + 1;
    const keys: string[] = [];
    for (let s = start; s < start + 10; s++) {
      const stamp = new Date(s * 1000).toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
      const key = `logs/dev/${host}/${new Date(s * 1000).toISOString().slice(0, 10)}/logs-${stamp}.tar.gz`;
      await store.putFile(key, foreign);
      keys.push(key);
    }
    const first = await ship(env, ['--json']);
    assert.equal(first.exitCode, 0, first.stderr);
    const uploaded = (JSON.parse(first.stdout) as { uploaded: { key: string }[] }).uploaded;
    assert.equal(uploaded.length, 1);
    assert.ok(!keys.includes(uploaded[0]!.key), `${uploaded[0]!.key} is a new key`);

    // Shipped while the bucket was down; meanwhile another writer took the key: moved, not overwritten.
    await sleep(1100);
    const down = await ship({ ...env, S3_ENDPOINT_URL: refusing.url }, ['--json']);
    assert.equal(down.exitCode, 1);
    const waiting = JSON.parse(readFileSync(path.join(env.MIZUAL_STATE_DIR!, 'ship-state.json'), 'utf8'))
      .pending as string[];
    assert.equal(waiting.length, 1);
    const day = `${waiting[0]!.slice(5, 9)}-${waiting[0]!.slice(9, 11)}-${waiting[0]!.slice(11, 13)}`;
    const takenKey = `logs/dev/${host}/${day}/${waiting[0]}`;
    await store.putFile(takenKey, foreign);
    keys.push(takenKey);
    const later = await ship(env, ['--json']);
    assert.equal(later.exitCode, 0, later.stderr);
    assert.match(later.stderr, /already holds another archive; this one goes up as logs-\d{8}_\d{6}\.tar\.gz instead/);
    const objects = await downloadAll(store, `logs/dev/${host}/`);
    for (const key of keys) assert.equal(objects.get(key)?.toString(), 'another install wrote this', key);
    const ours = [...objects.keys()].filter((k) => !keys.includes(k)).sort();
    assert.equal(
      ours.length,
      4,
      `the one before, the first, the moved and the last run's archive: ${ours.join(' ')} ${later.stderr}`,
    );
    await dockerCli(['kill', name]);
    const expected = new Map<string, number>();
    await lastNumbers(name, 'taken', expected);
    assert.equal((await ship(env)).exitCode, 0);
    const all = await downloadAll(store, `logs/dev/${host}/`);
    // In the order the runs made them (a moved archive's name is later than the next run's).
    const createdAt = (entries: TarEntry[]) => Date.parse((checkArchive(entries) as { createdAt?: string }).createdAt!);
    const archives = [...all.keys()]
      .filter((k) => !keys.includes(k))
      .map((k) => readTarGz(all.get(k) as Buffer))
      .sort((a, b) => createdAt(a) - createdAt(b));
    assertEachOnce(numberedLines(archives), expected);
  });
});

describe('gaps', () => {
  it('says a log file was rotated past max-file between two runs (not "was recreated")', async () => {
    const name = uniqueName('rotated');
    await startContainer(name, numberedScript('rot', '0.002'), { logOpts: { 'max-size': '2k', 'max-file': '2' } });
    // No hold (another mount): nothing keeps a generation rotated away between two runs.
    const otherMount = mkdtempSync('/dev/shm/mizual-hold-');
    after(() => rmSync(otherMount, { recursive: true, force: true }));
    const env = freshEnv(`rot=${name}`, { MIZUAL_HOLD_DIR: otherMount });
    const first = await ship(env, ['--no-upload']);
    assert.equal(first.exitCode, 0, first.stderr);
    await sleep(1500);
    const second = await ship(env, ['--no-upload', '--json']);
    assert.equal(second.exitCode, 0, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(
        `^mizual-ship-logs: ${name} \\([0-9a-f]{12}\\): a log file was rotated past max-file between two runs, before it was read to its end; its lines after \\S+ are lost`,
        'm',
      ),
    );
    assert.doesNotMatch(second.stderr, /was recreated/);
    const manifest = checkArchive(
      readArchiveFile((JSON.parse(second.stdout) as { archive: { path: string } }).archive.path),
    ) as unknown as { gaps: { kind?: string }[] };
    assert.equal(manifest.gaps[0]?.kind, 'rotated-away');
  });
});

describe('a reinstall (no local state)', () => {
  it('continues from the newest manifest in the bucket: no line twice, no gap, though down longer than --window', async () => {
    const name = uniqueName('reinstall');
    await startContainer(name, numberedScript('re'));
    const env = freshEnv(`re=${name}`);
    await sleep(500);
    const first = await ship(env);
    assert.equal(first.exitCode, 0, first.stderr);
    const kept = readdirSync(env.MIZUAL_LOG_DIR!);
    // A new disk: state, archives and the hold are gone; the box stays down longer than --window.
    for (const dir of [env.MIZUAL_STATE_DIR!, env.MIZUAL_LOG_DIR!, env.MIZUAL_HOLD_DIR!]) {
      rmSync(dir, { recursive: true, force: true });
    }
    await sleep(2000);
    const check = await ship(env, ['--check']);
    assert.match(
      check.stdout,
      new RegExp(
        `^ok {4}continuation: no local state; the next run continues from logs/dev/${env.MIZUAL_HOSTNAME}/\\S+/${kept[0]!.replaceAll('.', '\\.')} \\(window end \\S+\\)$`,
        'm',
      ),
    );
    const second = await ship(env, ['--window', '1s']);
    assert.equal(second.exitCode, 0, second.stderr);
    assert.match(second.stderr, /no local state: continuing from logs\/dev\/\S+ \(window end \S+\)/);
    await sleep(500);
    assert.equal((await ship(env)).exitCode, 0);
    const check2 = await ship(env, ['--check']);
    assert.match(check2.stdout, /^ok {4}continuation: local state in \S+ship-state\.json/m);
    await dockerCli(['kill', name]);
    const expected = new Map<string, number>();
    await lastNumbers(name, 're', expected);
    assert.equal((await ship(env)).exitCode, 0);
    assertEachOnce(numberedLines(await bucketArchives(env)), expected);
  });
});

describe('the Engine API path', () => {
  it('continues after the last line shipped when the clock steps back, not from a time it already passed', async () => {
    const name = uniqueName('api-step');
    await startContainer(name, numberedScript('step'));
    const door = await tcpDoorToDocker();
    try {
      // A remote engine: read through the API. The first run's clock is a minute ahead, then set right.
      const env = freshEnv(`step=${name}`, { DOCKER_HOST: door.host });
      const run = async (offsetMs: number) => {
        await sleep(1500);
        const r = await ship({ ...env, MIZUAL_TEST_NOW_OFFSET_MS: String(offsetMs) }, ['--no-upload']);
        assert.equal(r.exitCode, 0, r.stderr);
      };
      await run(60_000);
      await run(0);
      await run(0);
      await dockerCli(['kill', name]);
      const expected = new Map<string, number>();
      await lastNumbers(name, 'step', expected);
      await run(0);
      // In the order they were written (the first run's name is a minute ahead).
      const dir = env.MIZUAL_LOG_DIR as string;
      const archives = readdirSync(dir)
        .filter((n) => /^logs-\d{8}_\d{6}\.tar\.gz$/.test(n))
        .map((n) => path.join(dir, n))
        .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
        .map((file) => readArchiveFile(file));
      assert.equal(archives.length, 4);
      for (const entries of archives) {
        const file = checkArchive(entries).files.find((f) => f.name.startsWith('step-')) as { source?: string };
        assert.equal(file.source, 'api');
      }
      assertEachOnce(numberedLines(archives), expected);
    } finally {
      await door.close();
    }
  });
});
