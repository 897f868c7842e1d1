// Benchmark for mizual-fetch-logs, against the local S3 gateway of the test harness behind the throttling
// proxy of test/harness/throttle-proxy.ts (50 ms per request, 8 MB/s per connection: a laptop talking to
// B2; straight from the gateway on this 2-core machine the work is CPU-bound and says nothing of the flag):
//   1. download + extract 20 archives of 10 MB: default concurrency (4) vs one at a time (--concurrency 1),
//      same client, fresh output directory each run; wall (median) and peak RSS.
//   2. `--since 2h --cat` over a day of 48 archives per host on two hosts: archives fetched per host.
//   3. --cat over BENCH_CAT_MB (default 500) MiB of log text in 2 hosts x 5 archives x 4 containers, to /dev/null.
// Run: npm run build && bash test/harness/s3-up.sh && node --import tsx bench/fetch-logs.mjs
// Needs /usr/bin/time. Prints a table and writes bench/results/fetch-logs.json.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStore } from '../src/store/client.ts';
import { createTestBucket, ensureS3, removeTestBucket, storeConfigFor } from '../test/harness/s3.ts';
import { startThrottleProxy } from '../test/harness/throttle-proxy.ts';
import { buildTarGz, makeShipArchive } from '../test/helpers/make-archive.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin/mizual-fetch-logs.js');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const catMiB = Number(process.env.BENCH_CAT_MB ?? 500);
const work = mkdtempSync(path.join(tmpdir(), 'mizual-bench-fetch-'));

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Run the tool under /usr/bin/time without blocking this process: the throttling proxy lives here. */
async function timed(args, env) {
  const child = spawn('/usr/bin/time', ['-f', '%e %M', process.execPath, bin, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const status = await new Promise((resolve) => child.on('close', resolve));
  const last = stderr.trim().split('\n').at(-1).split(' ');
  if (status !== 0) throw new Error(`mizual-fetch-logs ${args.join(' ')} failed: ${stderr}`);
  return { wallMs: Number(last[0]) * 1000, rssMiB: Number(last[1]) / 1024 };
}

/** Log lines with random ids: about 4:1 with 12 id bytes, about 2:1 with 48. */
function logText(bytes, startMs, stepMs, tag, idBytes = 12) {
  const parts = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const t = new Date(startMs + i * stepMs).toISOString().replace('Z', `${String(i % 1000).padStart(6, '0')}Z`);
    const line = `${t} INFO ${tag} request id=${randomBytes(idBytes).toString('base64')} path=/api/v1/items/${i % 977} status=200 took=${i % 91}ms\n`;
    parts.push(line);
    size += line.length;
  }
  return Buffer.from(parts.join(''));
}

const s3 = await ensureS3();
const bucket = await createTestBucket(s3, { tag: 'bench-fetch' });
const store = await createStore(storeConfigFor(s3, bucket));
const throttle = await startThrottleProxy(s3.endpoint, { latencyMs: 50, bytesPerSecond: 8_000_000 });
const env = {
  S3_BUCKET_NAME: bucket,
  S3_ENDPOINT_URL: throttle.url,
  S3_ACCESS_KEY_ID: s3.accessKeyId,
  S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  S3_REGION: s3.region,
};
const results = { date: new Date().toISOString(), runs };
try {
  // 1. Twenty 10 MB archives (one archive's bytes under twenty keys). The text compresses about 2.5:1;
  //    one trial sizes it so the archive comes out at 10 MB (10,000,000 bytes) within 2%.
  const day = Date.parse('2026-01-01T00:00:00Z');
  const makeArchive = (textBytes) =>
    buildTarGz([
      { name: 'backend-20260101_003000.log', data: logText(textBytes, day, 5, 'backend', 48), mtime: new Date(day) },
    ]);
  const trial = makeArchive(8 * 1024 * 1024);
  const archive = makeArchive(Math.round(((8 * 1024 * 1024) / trial.length) * 10_000_000));
  const file = path.join(work, 'one.tar.gz');
  writeFileSync(file, archive);
  for (let i = 0; i < 20; i++) {
    const stamp = `20260101_${String(Math.floor(i / 2)).padStart(2, '0')}${i % 2 ? '30' : '00'}00`;
    await store.putFile(`logs/prod/bench/2026-01-01/logs-${stamp}.tar.gz`, file);
  }
  const fetchRun = async (concurrency) => {
    const out = path.join(work, `out-${concurrency}`);
    rmSync(out, { recursive: true, force: true });
    const args = [
      '--env',
      'prod',
      '--date',
      '2026-01-01',
      '--out',
      out,
      '--extract',
      '--concurrency',
      String(concurrency),
    ];
    return await timed(args, env);
  };
  await fetchRun(4); // warm the gateway and the page cache
  const seq = [];
  const par = [];
  for (let i = 0; i < runs; i++) {
    seq.push(await fetchRun(1));
    par.push(await fetchRun(4));
  }
  results.download = {
    archives: 20,
    archiveMB: archive.length / 1e6,
    sequential: { wallMs: median(seq.map((r) => r.wallMs)), rssMiB: Math.max(...seq.map((r) => r.rssMiB)) },
    concurrent: { wallMs: median(par.map((r) => r.wallMs)), rssMiB: Math.max(...par.map((r) => r.rssMiB)) },
  };
  results.download.ratio = results.download.concurrent.wallMs / results.download.sequential.wallMs;
  rmSync(path.join(work, 'out-1'), { recursive: true, force: true });
  rmSync(path.join(work, 'out-4'), { recursive: true, force: true });

  // 2. `--since 2h` over a day of 48 archives per host on two hosts (small archives, ending on the half hour).
  const last = Math.floor(Date.now() / 1_800_000) * 1_800_000;
  for (const host of ['day-1', 'day-2']) {
    for (let k = 0; k < 48; k++) {
      const end = new Date(last - k * 1_800_000);
      const line = `${new Date(end.getTime() - 60_000).toISOString()} ${host} ${k}`;
      const made = makeShipArchive({
        env: 'dev',
        host,
        start: new Date(end.getTime() - 1_800_000),
        end,
        containers: [{ short: 'backend', lines: [line] }],
      });
      const f = path.join(work, made.name);
      writeFileSync(f, made.data);
      await store.putFile(`logs/dev/${host}/${end.toISOString().slice(0, 10)}/${made.name}`, f);
      rmSync(f);
    }
  }
  const gotBefore = new Map(throttle.gets);
  await timed(['--env', 'dev', '--since', '2h', '--out', path.join(work, 'since'), '--cat'], env);
  results.since2h = { archivesPerHost: 48, hosts: 2, fetched: {} };
  for (const host of ['day-1', 'day-2']) {
    results.since2h.fetched[host] = [...throttle.gets].filter(
      ([k, n]) => k.startsWith(`logs/dev/${host}/`) && n > (gotBefore.get(k) ?? 0),
    ).length;
  }

  // 3. --cat over catMiB of logs: 2 hosts x 5 archives x 4 containers.
  const perFile = Math.ceil((catMiB * 1048576) / 40);
  let total = 0;
  for (const host of ['cat-1', 'cat-2']) {
    for (let a = 0; a < 5; a++) {
      const start = Date.parse('2026-01-02T00:00:00Z') + a * 1_800_000;
      const entries = ['backend', 'celery', 'registry', 'watchtower'].map((short, c) => {
        const data = logText(perFile, start + c, 1_800_000 / (perFile / 120), short);
        total += data.length;
        return { name: `${short}-20260102_00${a}000.log`, data };
      });
      const f = path.join(work, `${host}-${a}.tar.gz`);
      writeFileSync(f, buildTarGz(entries));
      await store.putFile(`logs/prod/${host}/2026-01-02/logs-20260102_${String(a).padStart(2, '0')}3000.tar.gz`, f);
      rmSync(f);
    }
  }
  const catOut = path.join(work, 'cat');
  await timed(['--env', 'prod', '--date', '2026-01-02', '--out', catOut], env); // download once
  const cats = [];
  for (let i = 0; i < Math.min(runs, 2); i++)
    cats.push(await timed(['--env', 'prod', '--date', '2026-01-02', '--out', catOut, '--cat'], env));
  results.cat = {
    logMiB: total / 1048576,
    wallMs: median(cats.map((r) => r.wallMs)),
    rssMiB: Math.max(...cats.map((r) => r.rssMiB)),
  };
  results.cat.mibPerSec = results.cat.logMiB / (results.cat.wallMs / 1000);
} finally {
  store.close();
  await throttle.close();
  await removeTestBucket(s3, bucket).catch(() => {});
  rmSync(work, { recursive: true, force: true });
}

const d = results.download;
console.log(`download+extract 20 x ${d.archiveMB.toFixed(1)} MB archives (50 ms per request, 8 MB/s per connection):`);
console.log(`  one at a time   ${d.sequential.wallMs.toFixed(0)} ms  peak RSS ${d.sequential.rssMiB.toFixed(0)} MiB`);
console.log(`  concurrency 4   ${d.concurrent.wallMs.toFixed(0)} ms  peak RSS ${d.concurrent.rssMiB.toFixed(0)} MiB`);
console.log(`  ratio           ${d.ratio.toFixed(2)} (target <= 0.35; RSS target < 120 MiB)`);
const f = results.since2h.fetched;
console.log(
  `--since 2h over 48 archives per host on 2 hosts: fetched ${f['day-1']} and ${f['day-2']} (target <= 5 per host)`,
);
const c = results.cat;
console.log(
  `--cat over ${c.logMiB.toFixed(0)} MiB of logs: ${c.wallMs.toFixed(0)} ms (${c.mibPerSec.toFixed(1)} MiB/s), peak RSS ${c.rssMiB.toFixed(0)} MiB (target < 150)`,
);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/fetch-logs.json'), `${JSON.stringify(results, null, 2)}\n`);
