// The counting test: containers print numbered lines on stdout and stderr while mizual-ship-logs
// runs many times with irregular gaps (once with the S3 endpoint down, once SIGKILLed mid-upload,
// once with its clock past midnight UTC); afterwards every line is in exactly one uploaded archive.
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dockerCli, startContainer, uniqueName } from '../harness/docker.js';
import { toolEnvFor } from '../harness/s3.js';
import { useBucket } from '../harness/bucket.js';
import { ROOT, runTool, scratchDir } from '../helpers/cli.js';
import { checkArchive, downloadAll, readTarGz, type Manifest } from './ship-logs-helpers.js';

const scratch = scratchDir('mizual-ship-count-');
after(scratch.cleanup);

describe('mizual-ship-logs counting test', () => {
  const fx = useBucket('ship-count', { docker: true });
  let blackhole: net.Server;
  const sockets = new Set<net.Socket>();
  const names = { a: uniqueName('count-a'), b: uniqueName('count-b') };
  const alertLog = path.join(scratch.dir, 'alerts.log');
  let env: Record<string, string>;
  let alertNo = 0;

  before(async () => {
    // An endpoint that accepts connections and never answers.
    blackhole = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    env = {
      MIZUAL_CONTAINERS: `a=${names.a},b=${names.b}`,
      MIZUAL_LOG_DIR: path.join(scratch.dir, 'logs'),
      MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
      MIZUAL_ALERT_LOG: alertLog,
      MIZUAL_HOSTNAME: 'count-host',
      STORAGE_PATH_PREFIX: 'production',
      ...toolEnvFor(fx.s3, fx.bucket, fx.strict.url),
      MIZUAL_TEST_RETRY_DELAY_MS: '100',
    };
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    blackhole?.close();
  });

  const addAlert = (): void => {
    alertNo++;
    appendFileSync(alertLog, `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} WARNING count: alert ${alertNo}\n`);
  };
  const ship = (extra: Record<string, string> = {}) =>
    runTool('mizual-ship-logs', [], { env: { ...env, ...extra }, cwd: scratch.dir });

  it('ships every numbered line exactly once, in order, across faults and midnight', async () => {
    const script = (tag: string) =>
      `i=0; while true; do i=$((i+1)); echo "${tag} out $i"; echo "${tag} err $i" >&2; sleep 0.03; done`;
    await startContainer(names.a, script('a'));
    await startContainer(names.b, script('b'));
    addAlert();
    await sleep(2500);

    const gaps = [300, 1600, 700, 2200, 0, 1100];
    for (const [i, gap] of gaps.entries()) {
      const result = await ship();
      assert.equal(result.exitCode, 0, `run ${i}: ${result.stderr}`);
      assert.equal(result.stderr, '', `run ${i}`);
      if (i % 2 === 0) addAlert();
      await sleep(gap);
    }

    // S3 down: the archive is kept and reported; the next runs upload it.
    await fx.strict.pause();
    addAlert();
    const down = await ship();
    await fx.strict.resume();
    assert.equal(down.exitCode, 1);
    assert.match(down.stderr, /^mizual-ship-logs: 1 archive\(s\) wait for upload: S3 endpoint not reachable/);
    assert.equal(down.stderr.trim().split('\n').length, 1, down.stderr);
    await sleep(1200);

    // Killed with SIGKILL while uploading to an endpoint that never answers.
    const logDir = env.MIZUAL_LOG_DIR as string;
    const before = new Set(readdirSync(logDir));
    const child = execa(process.execPath, [path.join(ROOT, 'bin', 'mizual-ship-logs.js')], {
      env: { ...env, S3_ENDPOINT_URL: `http://127.0.0.1:${(blackhole.address() as net.AddressInfo).port}` },
      extendEnv: false,
      cwd: scratch.dir,
      reject: false,
    });
    for (let t = 0; t < 100 && !readdirSync(logDir).some((n) => !before.has(n) && n.startsWith('logs-')); t++) {
      await sleep(100);
    }
    for (let t = 0; t < 100 && sockets.size === 0; t++) await sleep(100);
    await sleep(200);
    assert.ok(sockets.size > 0, 'the upload reached the silent endpoint');
    child.kill('SIGKILL');
    await child;
    addAlert();
    // Rotation of the alert log between runs.
    renameSync(alertLog, `${alertLog}.1`);
    addAlert();
    await sleep(900);

    const afterKill = await ship();
    assert.equal(afterKill.exitCode, 0, afterKill.stderr);
    assert.match(afterKill.stderr, /took over the lock .* left by pid \d+, which is no longer running/);
    await sleep(1300);
    addAlert();
    assert.equal((await ship()).exitCode, 0);

    // Stop the writers, then one run whose clock is 5 s past the next midnight UTC.
    await dockerCli(['kill', names.a, names.b]);
    const lastA = await lastNumber(names.a);
    const lastB = await lastNumber(names.b);
    const nextMidnight = Math.ceil((Date.now() + 1000) / 86_400_000) * 86_400_000;
    const midnight = await ship({ MIZUAL_TEST_NOW_OFFSET_MS: String(nextMidnight + 5000 - Date.now()), ...{} });
    assert.equal(midnight.exitCode, 0, midnight.stderr);
    const nextDate = new Date(nextMidnight).toISOString().slice(0, 10);
    // Named after the first whole second after the export ended: 5 s past midnight, plus the run's time.
    const named = new RegExp(
      `uploaded logs/prod/count-host/${nextDate}/logs-${nextDate.replaceAll('-', '')}_0000(0[6-9]|[1-5]\\d)\\.tar\\.gz`,
    );
    assert.match(midnight.stdout, named);

    // Everything uploaded, nothing pending, every archive also kept locally.
    const state = JSON.parse(readFileSync(path.join(env.MIZUAL_STATE_DIR as string, 'ship-state.json'), 'utf8'));
    assert.deepEqual(state.pending, []);
    const objects = await downloadAll(fx.store, 'logs/prod/count-host/');
    const localNames = readdirSync(logDir).filter((n) => n.startsWith('logs-'));
    assert.deepEqual([...objects.keys()].map((k) => path.basename(k)).sort(), localNames.sort());
    assert.ok(objects.size >= 8, `archives: ${objects.size}`);
    assert.deepEqual(fx.strict.rejected, []);

    const seen: Record<string, string[]> = { 'a out': [], 'a err': [], 'b out': [], 'b err': [] };
    const alerts: string[] = [];
    let crossed: Manifest | undefined;
    for (const key of [...objects.keys()].sort()) {
      const entries = readTarGz(objects.get(key) as Buffer);
      const manifest = checkArchive(entries);
      assert.equal(manifest.host, 'count-host');
      assert.equal(manifest.env, 'prod');
      assert.ok(key.endsWith(`/${manifest.window.end.slice(0, 10)}/${path.basename(key)}`), key);
      if (manifest.window.start.slice(0, 10) !== manifest.window.end.slice(0, 10)) crossed = manifest;
      for (const entry of entries) {
        if (entry.name.startsWith('alerts-')) alerts.push(...entry.data.toString().split('\n').filter(Boolean));
        if (entry.name === 'manifest.json' || entry.name.startsWith('alerts-')) continue;
        // Docker copies stdout and stderr in two goroutines, so its file order can put a line stamped
        // a few microseconds earlier after one of the other stream: order holds per stream.
        const previous: Record<string, string> = {};
        for (const line of entry.data.toString('utf8').split('\n').filter(Boolean)) {
          const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z) ([ab] (?:out|err)) (\d+)$/.exec(line);
          assert.ok(m, `unexpected line in ${entry.name}: ${line}`);
          const stream = m[2] as string;
          assert.ok((m[1] as string) >= (previous[stream] ?? ''), `timestamps never go back within ${stream}`);
          previous[stream] = m[1] as string;
          seen[m[2] as string]?.push(m[3] as string);
        }
      }
    }
    assert.ok(crossed, 'one window crossed midnight UTC');
    assert.match(crossed.window.end, new RegExp(`^${nextDate}T00:00:(0[6-9]|[1-5]\\d)\\.000000000Z$`));
    for (const [stream, numbers] of Object.entries(seen)) {
      const last = stream.startsWith('a') ? lastA : lastB;
      const expected = Array.from({ length: last }, (_, i) => String(i + 1));
      // Each stream's last line may be cut off by `docker kill` on one stream but not the other.
      assert.ok(numbers.length >= last - 1, `${stream}: ${numbers.length} of ${last}`);
      assert.deepEqual(numbers, expected.slice(0, numbers.length), `${stream} exactly once and in order`);
    }
    const alertNumbers = alerts.map((l) => Number(/alert (\d+)$/.exec(l)?.[1]));
    assert.deepEqual(
      alertNumbers,
      Array.from({ length: alertNo }, (_, i) => i + 1),
    );
    assert.ok(existsSync(`${alertLog}.1`));
  });
});

/** The highest number a stopped container printed, read from `docker logs` itself. */
async function lastNumber(name: string): Promise<number> {
  const result = await execa('docker', ['logs', name], { reject: false, all: true });
  const numbers = String(result.all)
    .split('\n')
    .map((l) => Number(/ (\d+)$/.exec(l)?.[1] ?? 0));
  return Math.max(...numbers);
}
