// What the retry policy (3 tries per request, store/retry.ts) does over a gateway that answers 503 to
// one request in three at random, as B2 may under load: per trial, BENCH_ARCHIVES archives wait locally
// (made by --no-upload runs; every other one above 5 MiB, so a multipart upload), then one run uploads
// through test/harness/fault-proxy.ts. Counted after each run: archives still waiting for the next run,
// and multipart uploads left open under the host's prefix (must be 0). Also, for comparison, the same
// over a gateway answering 503 to every third request exactly (never three failures in a row).
// Run: npm run build && bash test/harness/s3-up.sh && node --import tsx bench/ship-flaky-gateway.mjs
// Prints a table and writes bench/results/ship-flaky-gateway.json.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startB2StrictProxy } from '../test/harness/b2-strict-proxy.ts';
import { startFaultProxy } from '../test/harness/fault-proxy.ts';
import { createTestBucket, ensureS3, listOpenUploads, removeTestBucket, toolEnvFor } from '../test/harness/s3.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const trials = Number(process.env.BENCH_TRIALS ?? 10);
const archives = Number(process.env.BENCH_ARCHIVES ?? 6);
const s3 = await ensureS3();
const bucket = await createTestBucket(s3, { tag: 'flaky' });
const strict = await startB2StrictProxy(s3.endpoint);
const scratch = mkdtempSync(path.join(tmpdir(), 'mizual-bench-flaky-'));

/** Run the shipper without blocking this process: the fault proxy answering it lives here. */
function ship(env, args) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, 'bin', 'mizual-ship-logs.js'), ...args],
      { env },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function trial(label, n, choose) {
  const base = path.join(scratch, `${label}-${n}`);
  mkdirSync(base);
  const alertLog = path.join(base, 'alerts.log');
  const env = {
    PATH: process.env.PATH,
    MIZUAL_CONTAINERS: `none=mizual-absent-${randomBytes(3).toString('hex')}`,
    MIZUAL_LOG_DIR: path.join(base, 'logs'),
    MIZUAL_STATE_DIR: path.join(base, 'state'),
    MIZUAL_ALERT_LOG: alertLog,
    MIZUAL_HOSTNAME: `flaky-${label}-${n}`,
    MIZUAL_TEST_RETRY_DELAY_MS: '20',
  };
  for (let i = 0; i < archives; i++) {
    // Incompressible lines: 7 MiB (multipart) every other archive, else 64 KiB (one PutObject).
    const lines = (i % 2 === 0 ? 7 * 256 : 16) * 1;
    const text = Array.from(
      { length: lines },
      () => `${new Date().toISOString()} WARNING big: ${randomBytes(3072).toString('base64')}`,
    ).join('\n');
    writeFileSync(alertLog, `${text}\n`, { flag: 'a' });
    const r = await ship(env, ['--no-upload']);
    if (r.code !== 0) throw new Error(r.stderr);
    await new Promise((resolve) => setTimeout(resolve, 1100));
  }
  const proxy = await startFaultProxy(strict.url, choose);
  const r = await ship({ ...env, ...toolEnvFor(s3, bucket, proxy.url) }, ['--json']);
  await proxy.close();
  const state = JSON.parse(readFileSync(path.join(base, 'state', 'ship-state.json'), 'utf8'));
  const open = (await listOpenUploads(s3, bucket)).filter((k) => k.startsWith(`logs/dev/${env.MIZUAL_HOSTNAME}/`));
  return {
    exit: r.code,
    requests: proxy.log.length,
    refused: proxy.log.filter((q) => q.fault).length,
    waiting: state.pending.length,
    openUploads: open.length,
  };
}

const oneInThree = () => () =>
  Math.random() < 1 / 3 ? { kind: 'error', status: 503, code: 'ServiceUnavailable' } : undefined;
const everyThird = () => (req) =>
  req.n % 3 === 0 ? { kind: 'error', status: 503, code: 'ServiceUnavailable' } : undefined;
const results = { archives, trials, random: [], everyThird: [] };
try {
  for (let n = 0; n < trials; n++) results.random.push(await trial('random', n, oneInThree()));
  for (let n = 0; n < Math.min(3, trials); n++) results.everyThird.push(await trial('third', n, everyThird()));
} finally {
  await strict.close();
  await removeTestBucket(s3, bucket).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
}
const sum = (rows, key) => rows.reduce((a, r) => a + r[key], 0);
for (const [label, rows] of [
  ['503 at random, p=1/3', results.random],
  ['503 every 3rd request', results.everyThird],
]) {
  console.log(
    `${label}: ${rows.length} runs of ${archives} archives; waiting after the run: ${rows.map((r) => r.waiting).join(' ')} ` +
      `(total ${sum(rows, 'waiting')} of ${rows.length * (archives + 1)}, each run adding its own); runs exiting 1: ${rows.filter((r) => r.exit === 1).length}; ` +
      `open uploads left: ${sum(rows, 'openUploads')}; requests ${sum(rows, 'requests')}, refused ${sum(rows, 'refused')}`,
  );
}
mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
writeFileSync(path.join(root, 'bench', 'results', 'ship-flaky-gateway.json'), JSON.stringify(results, null, 2));
