// mizual-ship-logs against the faults real servers and B2 produce, through the fault proxy in front of
// the B2-strict proxy in front of the real gateway: nothing left in the bucket (deadline, SIGTERM, a
// lost CreateMultipartUpload answer, stale uploads of earlier runs), permanent errors fail at once,
// 503s and resets mid-answer are ridden out.
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { everyNth, type FaultRequest } from '../harness/fault-proxy.js';
import { beginUpload, listOpenUploads, toolEnvFor } from '../harness/s3.js';
import { useBucket } from '../harness/bucket.js';
import { ROOT, runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-ship-uploads-');
const fx = useBucket('ship-uploads', { docker: true });
let dirNo = 0;
after(async () => {
  scratch.cleanup();
});

/**
 * A fresh environment whose alert log holds `mib` MiB of incompressible lines stamped now (so the
 * archive needs a multipart upload above 5 MiB); no container is configured that exists.
 */
function freshEnv(endpoint: string, mib: number): Record<string, string> {
  const base = path.join(scratch.dir, `run${++dirNo}`);
  mkdirSync(base);
  const alertLog = path.join(base, 'alerts.log');
  const lines: string[] = [];
  for (let i = 0; i < mib * 256; i++) {
    lines.push(`${new Date().toISOString()} WARNING big: ${randomBytes(3072).toString('base64')}`);
  }
  writeFileSync(alertLog, lines.length ? `${lines.join('\n')}\n` : '');
  return {
    MIZUAL_CONTAINERS: `none=mizual-absent-${dirNo}-${randomBytes(3).toString('hex')}`,
    MIZUAL_LOG_DIR: path.join(base, 'logs'),
    MIZUAL_STATE_DIR: path.join(base, 'state'),
    MIZUAL_ALERT_LOG: alertLog,
    MIZUAL_HOSTNAME: `uploads-${process.pid}-${dirNo}`,
    ...toolEnvFor(fx.s3, fx.bucket, endpoint),
    MIZUAL_TEST_RETRY_DELAY_MS: '50',
  };
}

const ship = (env: Record<string, string>, args: string[] = []) =>
  runTool('mizual-ship-logs', args, { env, cwd: scratch.dir, timeoutMs: 120_000 });

const isPart = (r: FaultRequest): boolean => r.method === 'PUT' && /[?&]uploadId=/.test(r.path);
const isCreate = (r: FaultRequest): boolean => r.method === 'POST' && /[?&]uploads(=|&|$)/.test(r.path);
const ownOpen = async (host: string): Promise<string[]> =>
  (await listOpenUploads(fx.s3, fx.bucket)).filter((k) => k.startsWith(`logs/dev/${host}/`));

describe('no unfinished upload is left in the bucket', () => {
  it('the deadline aborts the multipart upload under way before the process exits', async () => {
    const slow = await fx.faultProxy((r) => (isPart(r) ? { kind: 'throttle', bytesPerSecond: 256 * 1024 } : undefined));
    const env = freshEnv(slow.url, 9);
    const result = await ship(env, ['--deadline', '4s']);
    assert.equal(result.exitCode, 1);
    assert.match(
      result.stderr,
      /gave up after the 4 s deadline; aborted 1 unfinished upload\(s\); the next run continues from the last checkpoint$/,
    );
    assert.ok(slow.log.some(isPart), 'a part was being sent when the deadline fired');
    assert.deepEqual(await ownOpen(env.MIZUAL_HOSTNAME!), []);
  });

  it('SIGTERM aborts the multipart upload under way before the process exits', async () => {
    const slow = await fx.faultProxy((r) => (isPart(r) ? { kind: 'throttle', bytesPerSecond: 256 * 1024 } : undefined));
    const env = freshEnv(slow.url, 9);
    const child = execa(process.execPath, [path.join(ROOT, 'bin', 'mizual-ship-logs.js')], {
      env,
      extendEnv: false,
      reject: false,
      cwd: scratch.dir,
    });
    for (let t = 0; t < 300 && !slow.log.some(isPart); t++) await sleep(100);
    assert.ok(slow.log.some(isPart), 'a part is being sent');
    child.kill('SIGTERM');
    const result = await child;
    assert.equal(result.exitCode, 1);
    assert.match(String(result.stderr), /stopped by SIGTERM; aborted 1 unfinished upload\(s\); the next run/);
    assert.deepEqual(await ownOpen(env.MIZUAL_HOSTNAME!), []);
  });

  it('a CreateMultipartUpload whose answer was lost leaves no upload once the retried one completes', async () => {
    let lost = 0;
    const lossy = await fx.faultProxy((r) => (isCreate(r) && lost++ === 0 ? { kind: 'lose-answer' } : undefined));
    const env = freshEnv(lossy.url, 7);
    const result = await ship(env);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(lossy.log.filter(isCreate).length, 2, 'the SDK asked again after the lost answer');
    assert.deepEqual(await ownOpen(env.MIZUAL_HOSTNAME!), []);
  });

  it('a lost CreateMultipartUpload answer, then an upload that gives up: no open upload right after the run', async () => {
    let lost = 0;
    let failing = true;
    const faulty = await fx.faultProxy((r) => {
      if (isCreate(r) && lost++ === 0) return { kind: 'lose-answer' };
      return failing && isPart(r) ? { kind: 'error', status: 503, code: 'ServiceUnavailable' } : undefined;
    });
    const env = freshEnv(faulty.url, 7);
    const result = await ship(env);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /1 archive\(s\) wait for upload/);
    assert.equal(faulty.log.filter(isCreate).length, 2, 'the first answer was lost; the SDK asked again');
    assert.deepEqual(await ownOpen(env.MIZUAL_HOSTNAME!), [], 'counted right after the faulty run, before any sweep');
    // The catch-up run finds the gateway well again.
    failing = false;
    const catchUp = await ship(env, ['--json']);
    assert.equal(catchUp.exitCode, 0, catchUp.stderr);
    assert.equal((JSON.parse(catchUp.stdout) as { uploaded: unknown[] }).uploaded.length, 2);
    assert.deepEqual(await ownOpen(env.MIZUAL_HOSTNAME!), []);
  });

  it('an archive moved to the next free name, whose upload loses its create answer and gives up, leaves none open', async () => {
    const env = freshEnv(fx.strict.url, 7);
    const local = await ship(env, ['--no-upload', '--json']);
    assert.equal(local.exitCode, 0, local.stderr);
    const archive = path.basename((JSON.parse(local.stdout) as { archive: { path: string } }).archive.path);
    const day = `${archive.slice(5, 9)}-${archive.slice(9, 11)}-${archive.slice(11, 13)}`;
    const taken = `logs/dev/${env.MIZUAL_HOSTNAME}/${day}/${archive}`;
    // Another archive already holds that key: this one must go up under the next free name.
    await fx.store.putFile(taken, path.join(env.MIZUAL_LOG_DIR!, archive));
    writeFileSync(path.join(env.MIZUAL_LOG_DIR!, archive), randomBytes(7 * 1024 * 1024));
    let lost = 0;
    const faulty = await fx.faultProxy((r) => {
      if (isCreate(r) && lost++ === 0) return { kind: 'lose-answer' };
      return isPart(r) ? { kind: 'error', status: 503, code: 'ServiceUnavailable' } : undefined;
    });
    const result = await ship(
      { ...env, ...toolEnvFor(fx.s3, fx.bucket, faulty.url), MIZUAL_TEST_RETRY_DELAY_MS: '50' },
      ['--window', '1s'],
    );
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /already holds another archive; this one goes up as logs-\d{8}_\d{6}\.tar\.gz instead/);
    const creates = faulty.log.filter(isCreate);
    assert.ok(creates.length >= 2, 'a create answer was lost and asked again');
    assert.ok(
      creates.every((r) => !r.path.includes(archive)),
      'under the next free name, not the taken key',
    );
    assert.deepEqual(await ownOpen(env.MIZUAL_HOSTNAME!), []);
  });

  it("aborts stale uploads under this host's prefix only, and only those older than the deadline", async () => {
    const env = freshEnv(fx.strict.url, 0);
    const host = env.MIZUAL_HOSTNAME!;
    const own = `logs/dev/${host}/2020-01-01/logs-20200101_000000.tar.gz`;
    const others = [
      `logs/dev/${host}x/2020-01-01/logs-20200101_000000.tar.gz`,
      `logs/prod/${host}/2020-01-01/logs-20200101_000000.tar.gz`,
      `other-app/${host}/upload.bin`,
    ];
    for (const key of [own, ...others]) await beginUpload(fx.s3, fx.bucket, key);
    const fresh = await ship(env);
    assert.equal(fresh.exitCode, 0, fresh.stderr);
    assert.ok(
      (await listOpenUploads(fx.s3, fx.bucket)).includes(own),
      'younger than the deadline: maybe still running',
    );
    // An hour later, by the shipper's clock: older than any run (25 min deadline) can last.
    const later = await ship({ ...env, MIZUAL_TEST_NOW_OFFSET_MS: String(3600_000) });
    assert.equal(later.exitCode, 0, later.stderr);
    assert.match(later.stderr, new RegExp(`aborted 1 unfinished upload\\(s\\) an earlier run left: ${own}`));
    const open = await listOpenUploads(fx.s3, fx.bucket);
    assert.ok(!open.includes(own));
    for (const key of others) assert.ok(open.includes(key), `${key} is not ours and stays`);
  });
});

describe('the state', () => {
  it('records lastUploadAt when the upload ended, not when the run began', async () => {
    const slow = await fx.faultProxy((r) =>
      r.method === 'PUT' ? { kind: 'throttle', bytesPerSecond: 200 } : undefined,
    );
    const env = freshEnv(slow.url, 0);
    const result = await ship(env, ['--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    const [uploaded] = (JSON.parse(result.stdout) as { uploaded: { key: string }[] }).uploaded;
    const state = JSON.parse(readFileSync(path.join(env.MIZUAL_STATE_DIR!, 'ship-state.json'), 'utf8'));
    const head = await fx.store.headObject(uploaded!.key);
    // The server stamps the object when the slow upload completes (whole seconds, its clock is ours).
    assert.ok(head, 'uploaded');
    assert.ok(
      Date.parse(state.lastUploadAt) >= head.lastModified.getTime(),
      `lastUploadAt ${state.lastUploadAt} is not before the object's ${head.lastModified.toISOString()}`,
    );
  });
});

describe('errors', () => {
  for (const [code, hint] of [
    ['AccessDenied', /AccessDenied on PutObject \(check the key's permissions on the bucket\)/],
    ['SignatureDoesNotMatch', /SignatureDoesNotMatch on PutObject \(check S3_SECRET_ACCESS_KEY\)/],
    ['RequestTimeTooSkewed', /RequestTimeTooSkewed on PutObject \(this host's clock differs .* 15 minutes/],
  ] as const) {
    it(`a permanent ${code} fails at once: every request sent once, the archive kept for later`, async () => {
      const refusing = await fx.faultProxy(() => ({ kind: 'error', status: 403, code }));
      const env = freshEnv(refusing.url, 0);
      const result = await ship(env);
      assert.equal(result.exitCode, 1);
      assert.match(result.stderr, hint);
      // A first run (no local state) also asks the bucket where to continue from: one cause, one line.
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
      assert.ok(!result.stderr.includes(env.S3_SECRET_ACCESS_KEY!));
      const seen = refusing.log.map((r) => `${r.method} ${r.path}`);
      assert.deepEqual(seen, [...new Set(seen)], 'no request was repeated');
      assert.equal(refusing.log.filter((r) => r.method === 'PUT').length, 1);
      const state = JSON.parse(readFileSync(path.join(env.MIZUAL_STATE_DIR!, 'ship-state.json'), 'utf8'));
      assert.equal(state.pending.length, 1);
    });
  }

  it('a clock two hours off (faketime) against the real gateway: the reinstall still continues, the clock named once', async () => {
    const env = freshEnv(fx.strict.url, 0);
    const first = await ship(env, ['--json']);
    assert.equal(first.exitCode, 0, first.stderr);
    const firstKey = (JSON.parse(first.stdout) as { uploaded: { key: string }[] }).uploaded[0]?.key;
    assert.ok(firstKey);
    // A reinstall (no local state) on a host whose clock runs two hours ahead.
    const reinstalled = { ...env, MIZUAL_STATE_DIR: `${env.MIZUAL_STATE_DIR}-new` };
    const skewed = await execa(
      'faketime',
      ['-f', '+2h', process.execPath, path.join(ROOT, 'bin', 'mizual-ship-logs.js'), '--json'],
      { env: { ...reinstalled, PATH: process.env.PATH ?? '' }, extendEnv: false, reject: false, cwd: scratch.dir },
    );
    assert.equal(skewed.exitCode, 0, skewed.stderr);
    const summary = JSON.parse(skewed.stdout) as { continuedFrom: { key: string } | null; uploaded: unknown[] };
    assert.equal(summary.continuedFrom?.key, firstKey, 'continued from the newest archive in the bucket');
    assert.equal(summary.uploaded.length, 1);
    assert.equal(skewed.stderr.match(/clock/g)?.length, 1, skewed.stderr);
    assert.match(skewed.stderr, /this host's clock differs from the bucket's by more than 15 minutes.*check NTP/);
  });

  it('a key the real gateway does not know (InvalidAccessKeyId) is asked once', async () => {
    const counting = await fx.faultProxy(() => undefined);
    const env = { ...freshEnv(counting.url, 0), S3_ACCESS_KEY_ID: 'NOSUCHKEY0000000' };
    const result = await ship(env);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /InvalidAccessKeyId on PutObject \(check S3_ACCESS_KEY_ID\)/);
    assert.equal(counting.log.filter((r) => r.method === 'PUT').length, 1);
  });

  it('one retry policy: a part that always fails is sent 3 times, not once per nested loop (12)', async () => {
    const partNumber = (r: FaultRequest): string | undefined => /[?&]partNumber=(\d+)/.exec(r.path)?.[1];
    const failing = await fx.faultProxy((r) =>
      isPart(r) && partNumber(r) === '1' ? { kind: 'error', status: 503, code: 'ServiceUnavailable' } : undefined,
    );
    const env = freshEnv(failing.url, 9);
    const result = await ship(env);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /1 archive\(s\) wait for upload: .*ServiceUnavailable/);
    assert.equal(failing.log.filter((r) => isPart(r) && partNumber(r) === '1').length, 3);
    assert.deepEqual(await ownOpen(env.MIZUAL_HOSTNAME!), [], 'the failed upload was aborted');
  });

  it('rides out a 503 every third request and a reset in the middle of an answer', async () => {
    const third = everyNth(3, { kind: 'error', status: 503, code: 'ServiceUnavailable' });
    const flaky = await fx.faultProxy((r) => (r.n === 4 ? { kind: 'reset-mid-answer', afterBytes: 20 } : third(r)));
    const env = freshEnv(flaky.url, 7);
    const result = await ship(env, ['--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as {
      uploaded: { key: string; bytes: number }[];
      archive: { path: string };
    };
    assert.equal(summary.uploaded.length, 1);
    assert.equal(summary.uploaded[0]?.bytes, readFileSync(summary.archive.path).length);
    assert.ok(flaky.log.some((r) => r.fault === 'error') && flaky.log.some((r) => r.fault === 'reset-mid-answer'));
    assert.deepEqual(await ownOpen(env.MIZUAL_HOSTNAME!), []);
  });
});
