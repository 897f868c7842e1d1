// Benchmark: what counting line shapes (issue 30's noise report) costs the shipper. The same logs are
// shipped by this checkout (shapes counted, each entry's compressed bytes recorded) and by a baseline
// checkout without either (BENCH_BASELINE: a directory with a built checkout; else the commit
// BENCH_BASELINE_REV, default the one before shape counting, is exported into a temp dir, given this
// checkout's node_modules and built). Runs alternate, best of BENCH_RUNS (default 3) each; CPU is the
// shipper's user+sys plus what it made dockerd use. Target: ours/baseline CPU <= 1.1.
// Needs the built package and the Docker engine with the test image (bash scripts/test.sh brings it up).
// Prints a table and writes bench/results/ship-shapes.json.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cpuTicks, dockerdPid, TICK } from './lib/dockerd-cpu.mjs';
import { generateLogs, removeLogContainers } from './lib/log-containers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(path.join(root, 'dist'))) throw new Error('build first: node scripts/build.mjs');
const totalMb = Number(process.env.BENCH_SIZE_MB ?? '200');
const runsEach = Number(process.env.BENCH_RUNS ?? '3');
const names = [1, 2, 3, 4].map((i) => `mizual-bench-shapes-${i}`);

function baselineCheckout() {
  if (process.env.BENCH_BASELINE) return { dir: process.env.BENCH_BASELINE, temp: false };
  const rev = process.env.BENCH_BASELINE_REV ?? '02dd097';
  const dir = mkdtempSync(path.join(tmpdir(), 'mizual-bench-baseline-'));
  execFileSync('bash', ['-c', `git -C "$1" archive "$2" | tar -x -C "$3"`, 'x', root, rev, dir]);
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, stdio: 'ignore' });
  return { dir, temp: true, rev };
}

/** Ship the containers' logs once with a checkout's shipper (--no-upload): wall, RSS, CPU (own + dockerd). */
function ship(checkout, work, tag) {
  const dir = path.join(work, tag);
  mkdirSync(dir);
  const env = {
    PATH: process.env.PATH,
    MIZUAL_CONTAINERS: names.map((n, i) => `c${i + 1}=${n}`).join(','),
    MIZUAL_LOG_DIR: path.join(dir, 'logs'),
    MIZUAL_STATE_DIR: path.join(dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
    MIZUAL_HOLD_DIR: path.join('/var/lib/docker', `mizual-bench-hold-${tag}`),
    MIZUAL_HOSTNAME: `bench-${tag}`,
    MIZUAL_ENV_FILE: '/dev/null',
  };
  const dockerd = dockerdPid();
  const before = cpuTicks(dockerd);
  const started = performance.now();
  const r = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      '%M %U %S',
      process.execPath,
      path.join(checkout, 'bin/mizual-ship-logs.js'),
      '--no-upload',
      '--window',
      '24h',
    ],
    { encoding: 'utf8', env },
  );
  const wallS = Math.round(performance.now() - started) / 1000;
  const dockerdCpuS = (cpuTicks(dockerd) - before) / TICK;
  if (r.status !== 0) throw new Error(`ship ${tag} failed: ${r.stderr}`);
  const [rss, user, sys] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  const archive = readdirSync(env.MIZUAL_LOG_DIR).find((n) => n.startsWith('logs-'));
  const bytes = readFileSync(path.join(env.MIZUAL_LOG_DIR, archive)).length;
  rmSync(env.MIZUAL_HOLD_DIR, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  const ownCpuS = Math.round((user + sys) * 100) / 100;
  return { wallS, rssMiB: Math.round(rss / 102.4) / 10, ownCpuS, dockerdCpuS, cpuS: ownCpuS + dockerdCpuS, bytes };
}

/** This checkout's built shipper, copied so a rebuild while the bench runs cannot change it. */
function oursSnapshot() {
  const dir = mkdtempSync(path.join(tmpdir(), 'mizual-bench-ours-'));
  for (const part of ['bin', 'dist', 'package.json'])
    cpSync(path.join(root, part), path.join(dir, part), { recursive: true });
  return dir;
}

const ours = oursSnapshot();
const baseline = baselineCheckout();
generateLogs(names, totalMb);
const work = mkdtempSync(path.join(tmpdir(), 'mizual-bench-shapes-'));
const runs = { ours: [], baseline: [] };
ship(ours, work, 'warm'); // the page cache
for (let i = 0; i < runsEach; i++) {
  runs.baseline.push(ship(baseline.dir, work, `baseline-${i}`));
  runs.ours.push(ship(ours, work, `ours-${i}`));
}
const best = (xs) => xs.reduce((a, b) => (b.cpuS < a.cpuS ? b : a));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const o = best(runs.ours);
const b = best(runs.baseline);
const result = {
  totalMb,
  baseline: baseline.rev ?? baseline.dir,
  runsEach,
  ours: o,
  baselineBest: b,
  cpuRatioBest: Math.round((o.cpuS / b.cpuS) * 1000) / 1000,
  cpuRatioMedian:
    Math.round((median(runs.ours.map((r) => r.cpuS)) / median(runs.baseline.map((r) => r.cpuS))) * 1000) / 1000,
  rssRatio:
    Math.round((Math.max(...runs.ours.map((r) => r.rssMiB)) / Math.max(...runs.baseline.map((r) => r.rssMiB))) * 100) /
    100,
  all: runs,
};
rmSync(work, { recursive: true, force: true });
if (baseline.temp) rmSync(baseline.dir, { recursive: true, force: true });
rmSync(ours, { recursive: true, force: true });
removeLogContainers(names);
console.log(JSON.stringify(result));
console.log(
  `\n${totalMb} MiB over 4 containers, best of ${runsEach}: baseline ${b.cpuS.toFixed(2)} s CPU (dockerd ${b.dockerdCpuS}), ` +
    `ours ${o.cpuS.toFixed(2)} s (dockerd ${o.dockerdCpuS}): ${result.cpuRatioBest}x (median ${result.cpuRatioMedian}x, target <= 1.1); ` +
    `peak RSS ${Math.max(...runs.ours.map((r) => r.rssMiB))} vs ${Math.max(...runs.baseline.map((r) => r.rssMiB))} MiB`,
);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/ship-shapes.json'), `${JSON.stringify(result, null, 2)}\n`);
