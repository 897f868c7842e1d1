// Benchmark for mizual-fetch-logs (issue 4), against the local S3 gateway of the test harness:
//   1. download + extract 20 archives of 10 MB: default concurrency (4) vs one at a time (--concurrency 1),
//      same client, fresh output directory each run; wall (median) and peak RSS.
//   2. --cat over BENCH_CAT_MB (default 500) MiB of log text in 2 hosts x 5 archives x 4 containers, to /dev/null.
// Run: npm run build && bash test/harness/s3-up.sh && node --import tsx bench/fetch-logs.mjs
// Needs /usr/bin/time. Prints a table and writes bench/results/fetch-logs.json.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStore } from '../src/store/client.ts';
import { createTestBucket, ensureS3, removeTestBucket, storeConfigFor } from '../test/harness/s3.ts';
import { buildTarGz } from '../test/helpers/make-archive.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin/mizual-fetch-logs.js');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const catMiB = Number(process.env.BENCH_CAT_MB ?? 500);
const work = mkdtempSync(path.join(tmpdir(), 'mizual-bench-fetch-'));

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timed(args, env) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, bin, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const last = r.stderr.trim().split('\n').at(-1).split(' ');
  if (r.status !== 0) throw new Error(`mizual-fetch-logs ${args.join(' ')} failed: ${r.stderr}`);
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
const env = {
  S3_BUCKET_NAME: bucket,
  S3_ENDPOINT_URL: s3.endpoint,
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
  const fetchRun = (concurrency) => {
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
    return timed(args, env);
  };
  fetchRun(4); // warm the gateway and the page cache
  const seq = [];
  const par = [];
  for (let i = 0; i < runs; i++) {
    seq.push(fetchRun(1));
    par.push(fetchRun(4));
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

  // 2. --cat over catMiB of logs: 2 hosts x 5 archives x 4 containers.
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
  timed(['--env', 'prod', '--date', '2026-01-02', '--out', catOut], env); // download once
  const cats = [];
  for (let i = 0; i < Math.min(runs, 2); i++)
    cats.push(timed(['--env', 'prod', '--date', '2026-01-02', '--out', catOut, '--cat'], env));
  results.cat = {
    logMiB: total / 1048576,
    wallMs: median(cats.map((r) => r.wallMs)),
    rssMiB: Math.max(...cats.map((r) => r.rssMiB)),
  };
  results.cat.mibPerSec = results.cat.logMiB / (results.cat.wallMs / 1000);
} finally {
  store.close();
  await removeTestBucket(s3, bucket).catch(() => {});
  rmSync(work, { recursive: true, force: true });
}

const d = results.download;
console.log(`download+extract 20 x ${d.archiveMB.toFixed(1)} MB archives:`);
console.log(`  one at a time   ${d.sequential.wallMs.toFixed(0)} ms  peak RSS ${d.sequential.rssMiB.toFixed(0)} MiB`);
console.log(`  concurrency 4   ${d.concurrent.wallMs.toFixed(0)} ms  peak RSS ${d.concurrent.rssMiB.toFixed(0)} MiB`);
console.log(`  ratio           ${d.ratio.toFixed(2)} (target <= 0.6; RSS target < 120 MiB)`);
const c = results.cat;
console.log(
  `--cat over ${c.logMiB.toFixed(0)} MiB of logs: ${c.wallMs.toFixed(0)} ms (${c.mibPerSec.toFixed(1)} MiB/s), peak RSS ${c.rssMiB.toFixed(0)} MiB (target < 150)`,
);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/fetch-logs.json'), `${JSON.stringify(results, null, 2)}\n`);
