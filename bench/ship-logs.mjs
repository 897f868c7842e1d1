// Benchmark for mizual-ship-logs (issue 3), measured side by side in one run per log volume:
//   baseline: the old script's work without upload: `docker logs --timestamps` for each container into
//             files, then `tar` + `gzip -6` into one local archive;
//   ours:     `mizual-ship-logs` (parallel export, per-entry gzip members) including the upload to the
//             local S3 gateway.
// Wall time and peak RSS (from /usr/bin/time) at each volume (default 100 MB and 1000 MB of logs over
// four containers; BENCH_SIZES_MB=100,400 to scale down). Needs the built package, the Docker engine
// with the test image and the local gateway (bash scripts/test.sh brings both up).
// Prints a table and writes bench/results/ship-logs.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateLogs, removeLogContainers } from './lib/log-containers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sizes = (process.env.BENCH_SIZES_MB ?? '100,1000').split(',').map(Number);
const names = [1, 2, 3, 4].map((i) => `mizual-bench-ship-${i}`);
const s3env = Object.fromEntries(
  readFileSync(path.join(process.env.MIZUAL_TEST_STATE ?? '/tmp/mizual-test', 's3.env'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

function timed(cmd, args, env = process.env) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').at(-1).split(' ');
  return { wallS: Number(last[0]), rssMiB: Math.round(Number(last[1]) / 102.4) / 10, stderr: r.stderr };
}

async function createBucket() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const s3 = await import('@aws-sdk/client-s3');
  const client = new s3.S3Client({
    endpoint: s3env.MIZUAL_TEST_S3_ENDPOINT,
    region: s3env.MIZUAL_TEST_S3_REGION,
    credentials: {
      accessKeyId: s3env.MIZUAL_TEST_S3_ACCESS_KEY_ID,
      secretAccessKey: s3env.MIZUAL_TEST_S3_SECRET_ACCESS_KEY,
    },
    forcePathStyle: true,
  });
  const bucket = `mizual-bench-ship-${Date.now().toString(36)}`;
  await client.send(new s3.CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  return bucket;
}

const bucket = await createBucket();
const results = [];
for (const totalMb of sizes) {
  const genS = generateLogs(names, totalMb);
  const work = mkdtempSync(path.join(tmpdir(), 'mizual-bench-ship-'));
  const baselineScript =
    `set -e; cd "$1"; shift; mkdir -p d; for c in "$@"; do docker logs --timestamps "$c" > "d/$c.log" 2>&1; done; ` +
    `tar -cf - -C d . | gzip -6 > old.tar.gz; rm -rf d`;
  const baseline = () => timed('bash', ['-c', baselineScript, 'bench', work, ...names]);
  let run = 0;
  const ours = () => {
    const dir = path.join(work, `ours-${++run}`);
    mkdirSync(dir);
    const r = timed(process.execPath, [path.join(root, 'bin/mizual-ship-logs.js'), '--window', '6h', '--json'], {
      PATH: process.env.PATH,
      MIZUAL_CONTAINERS: names.map((n, i) => `c${i + 1}=${n}`).join(','),
      MIZUAL_LOG_DIR: path.join(dir, 'logs'),
      MIZUAL_STATE_DIR: path.join(dir, 'state'),
      MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
      MIZUAL_HOSTNAME: `bench-${totalMb}-${run}`,
      S3_BUCKET_NAME: bucket,
      S3_ENDPOINT_URL: s3env.MIZUAL_TEST_S3_ENDPOINT,
      S3_ACCESS_KEY_ID: s3env.MIZUAL_TEST_S3_ACCESS_KEY_ID,
      S3_SECRET_ACCESS_KEY: s3env.MIZUAL_TEST_S3_SECRET_ACCESS_KEY,
    });
    const state = JSON.parse(readFileSync(path.join(dir, 'state', 'ship-state.json'), 'utf8'));
    if (state.pending.length !== 0) throw new Error('upload did not finish');
    const archive = summaryArchive(dir);
    rmSync(path.join(dir, 'logs'), { recursive: true, force: true });
    return { ...r, archiveBytes: archive };
  };
  baseline(); // warm the page cache for both
  const b1 = baseline();
  const oldBytes = statSync(path.join(work, 'old.tar.gz')).size;
  const o1 = ours();
  const b2 = baseline();
  const o2 = ours();
  const best = (a, b) => (a.wallS <= b.wallS ? a : b);
  const b = best(b1, b2);
  const o = best(o1, o2);
  const row = {
    totalMb,
    generateS: genS,
    baselineWallS: b.wallS,
    baselineRssMiB: Math.max(b1.rssMiB, b2.rssMiB),
    baselineArchiveMiB: Math.round(oldBytes / 104857.6) / 10,
    oursWallS: o.wallS,
    oursRssMiB: Math.max(o1.rssMiB, o2.rssMiB),
    oursArchiveMiB: Math.round(o.archiveBytes / 104857.6) / 10,
    ratio: Math.round((o.wallS / b.wallS) * 100) / 100,
    runs: { baseline: [b1.wallS, b2.wallS], ours: [o1.wallS, o2.wallS] },
  };
  results.push(row);
  console.log(JSON.stringify(row));
  rmSync(work, { recursive: true, force: true });
}
removeLogContainers(names);

function summaryArchive(dir) {
  const logs = path.join(dir, 'logs');
  const name = execFileSync('ls', [logs], { encoding: 'utf8' }).trim().split('\n')[0];
  return statSync(path.join(logs, name)).size;
}

console.log('\nMB of logs | baseline wall / RSS | ours wall (with upload) / RSS | ratio');
for (const r of results) {
  console.log(
    `${r.totalMb} | ${r.baselineWallS} s / ${r.baselineRssMiB} MiB | ${r.oursWallS} s / ${r.oursRssMiB} MiB | ${r.ratio}`,
  );
}
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/ship-logs.json'), `${JSON.stringify({ bucket, results }, null, 2)}\n`);
