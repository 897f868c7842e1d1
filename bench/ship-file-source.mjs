// Benchmark for the file source of mizual-ship-logs (issue 11), side by side in one run per volume:
//   old pipeline: `docker logs --timestamps` per container into files, then `tar` + `gzip -6`;
//   previous:     an older checkout's mizual-ship-logs (BENCH_PREVIOUS=/path/to/checkout, optional), which
//                 exported through the Engine API;
//   ours:         this checkout's `mizual-ship-logs --no-upload` (the file source);
//   floor:        `pigz -6 -p 2` compressing the same log text our archive holds.
// CPU counts what the command used (user+sys of it and its children) plus what it made dockerd use
// (/proc/<dockerd pid>/stat before and after). Also `mizual-ship-logs --hold` against `node -e 0`, and
// whether --hold opens any AWS SDK file (strace). Default volumes 100 and 1000 MB over four containers
// (BENCH_SIZES_MB=100,400 to scale down; BENCH_REUSE=1 keeps containers that already hold a volume).
// Needs the built package, the Docker engine with the test image (bash scripts/test.sh brings it up),
// pigz and strace. Prints a table and writes bench/results/ship-file-source.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cpuTicks, dockerdPid, TICK } from './lib/dockerd-cpu.mjs';
import { generateLogs, removeLogContainers } from './lib/log-containers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const previous = process.env.BENCH_PREVIOUS;
const sizes = (process.env.BENCH_SIZES_MB ?? '100,1000').split(',').map(Number);
const names = [1, 2, 3, 4].map((i) => `mizual-bench-fs-${i}`);

/** Wall, peak RSS and CPU (own user+sys via /usr/bin/time, plus dockerd's) of one command. */
function measure(cmd, args, env = process.env) {
  const dockerd = dockerdPid();
  const before = cpuTicks(dockerd);
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M %U %S', cmd, ...args], { encoding: 'utf8', env });
  // /usr/bin/time's wall clock has 10 ms steps: too coarse for a 50 ms start-up.
  const wallS = Math.round(performance.now() - started) / 1000;
  const dockerdCpuS = (cpuTicks(dockerd) - before) / TICK;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const [, rss, user, sys] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  const ownCpuS = Math.round((user + sys) * 100) / 100;
  return {
    wallS,
    rssMiB: Math.round(rss / 102.4) / 10,
    ownCpuS,
    dockerdCpuS,
    cpuS: Math.round((ownCpuS + dockerdCpuS) * 100) / 100,
  };
}

function shipEnv(dir, tag) {
  return {
    PATH: process.env.PATH,
    MIZUAL_CONTAINERS: names.map((n, i) => `c${i + 1}=${n}`).join(','),
    MIZUAL_LOG_DIR: path.join(dir, 'logs'),
    MIZUAL_STATE_DIR: path.join(dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
    MIZUAL_HOLD_DIR: path.join('/var/lib/docker', `mizual-bench-hold-${tag}`),
    MIZUAL_HOSTNAME: `bench-${tag}`,
    MIZUAL_ENV_FILE: '/dev/null',
  };
}

function ship(checkout, work, tag) {
  const dir = path.join(work, tag);
  mkdirSync(dir);
  const env = shipEnv(dir, tag);
  const r = measure(
    process.execPath,
    [path.join(checkout, 'bin/mizual-ship-logs.js'), '--no-upload', '--window', '24h'],
    env,
  );
  const logs = path.join(dir, 'logs');
  const archive = path.join(
    logs,
    readdirSync(logs).find((n) => n.startsWith('logs-')),
  );
  const bytes = readFileSync(archive).length;
  rmSync(env.MIZUAL_HOLD_DIR, { recursive: true, force: true });
  return { ...r, archive, archiveMiB: Math.round(bytes / 104857.6) / 10 };
}

const best = (runs) => runs.reduce((a, b) => (b.wallS < a.wallS ? b : a));
const results = [];
for (const totalMb of sizes) {
  generateLogs(names, totalMb);
  const work = mkdtempSync(path.join(tmpdir(), 'mizual-bench-fs-'));
  const oldScript =
    `set -e; cd "$1"; shift; mkdir -p d; for c in "$@"; do docker logs --timestamps "$c" > "d/$c.log" 2>&1; done; ` +
    `tar -cf - -C d . | gzip -6 > old.tar.gz; rm -rf d`;
  const old = () => measure('bash', ['-c', oldScript, 'bench', work, ...names]);
  let n = 0;
  const ours = () => ship(root, work, `ours-${totalMb}-${++n}`);
  const prev = () => ship(previous, work, `prev-${totalMb}-${++n}`);
  old(); // warm the page cache
  const runs = { old: [], ours: [], previous: [] };
  for (let i = 0; i < 2; i++) {
    runs.old.push(old());
    runs.ours.push(ours());
    if (previous) runs.previous.push(prev());
  }
  // The floor: gzip -6 on two cores over the same text our archive holds (its log entries, untarred).
  const text = path.join(work, 'text.tar');
  execFileSync('bash', ['-c', `gzip -dc "$1" > "$2"`, 'x', runs.ours[0].archive, text]);
  const pigz = best([0, 1].map(() => measure('bash', ['-c', `pigz -6 -p 2 < "$1" > /dev/null`, 'x', text])));
  const o = best(runs.ours);
  const b = best(runs.old);
  const p = previous ? best(runs.previous) : null;
  const row = {
    totalMb,
    old: b,
    previous: p,
    ours: o,
    pigz,
    textMiB: Math.round(readFileSync(text).length / 104857.6) / 10,
    cpuRatio: Math.round((o.cpuS / b.cpuS) * 100) / 100,
    wallRatio: Math.round((o.wallS / b.wallS) * 100) / 100,
    pigzRatio: Math.round((o.wallS / pigz.wallS) * 100) / 100,
    oursPeakRssMiB: Math.max(...runs.ours.map((r) => r.rssMiB)),
  };
  for (const r of [row.old, row.previous, row.ours]) if (r) delete r.archive;
  results.push(row);
  console.log(JSON.stringify(row));
  rmSync(work, { recursive: true, force: true });
}

// --hold against a bare node start, with the four containers present (alternating, best of 15 each).
const holdDir = mkdtempSync(path.join(tmpdir(), 'mizual-bench-hold-'));
const holdEnv = shipEnv(holdDir, 'hold');
const nodeRuns = [];
const holdRuns = [];
for (let i = 0; i < 15; i++) {
  nodeRuns.push(measure(process.execPath, ['-e', '0']));
  holdRuns.push(measure(process.execPath, [path.join(root, 'bin/mizual-ship-logs.js'), '--hold'], holdEnv));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sdk = spawnSync(
  'strace',
  [
    '-f',
    '-e',
    'trace=openat',
    '-o',
    path.join(holdDir, 'trace'),
    process.execPath,
    path.join(root, 'bin/mizual-ship-logs.js'),
    '--hold',
  ],
  { env: holdEnv, encoding: 'utf8' },
);
const opened = existsSync(path.join(holdDir, 'trace')) ? readFileSync(path.join(holdDir, 'trace'), 'utf8') : '';
const distFiles = [...opened.matchAll(/"([^"]*\/dist\/[^"]+\.js)"/g)].map((m) => path.basename(m[1]));
const sdkChunks = readdirSync(path.join(root, 'dist')).filter((f) =>
  readFileSync(path.join(root, 'dist', f), 'utf8').includes('S3Client'),
);
const hold = {
  nodeMedianS: median(nodeRuns.map((r) => r.wallS)),
  holdMedianS: median(holdRuns.map((r) => r.wallS)),
  holdPeakRssMiB: Math.max(...holdRuns.map((r) => r.rssMiB)),
  distFilesOpened: [...new Set(distFiles)].sort(),
  sdkChunks,
  loadsSdk: sdk.status === 0 ? distFiles.some((f) => sdkChunks.includes(f)) : null,
};
hold.ratio = Math.round((hold.holdMedianS / hold.nodeMedianS) * 100) / 100;
rmSync(holdEnv.MIZUAL_HOLD_DIR, { recursive: true, force: true });
rmSync(holdDir, { recursive: true, force: true });
console.log(JSON.stringify({ hold }));
removeLogContainers(names);

console.log(
  '\nMB | old pipeline wall / CPU (dockerd) | previous wall / CPU (dockerd) | ours wall / CPU (dockerd) / RSS | pigz -6 -p 2 wall | CPU, wall vs old | vs pigz',
);
for (const r of results) {
  const f = (x) => (x ? `${x.wallS} s / ${x.cpuS} s (${x.dockerdCpuS})` : '-');
  console.log(
    `${r.totalMb} | ${f(r.old)} | ${f(r.previous)} | ${f(r.ours)} / ${r.oursPeakRssMiB} MiB | ${r.pigz.wallS} s | ${r.cpuRatio}, ${r.wallRatio} | ${r.pigzRatio}`,
  );
}
console.log(
  `--hold: ${hold.holdMedianS} s vs node -e 0 ${hold.nodeMedianS} s (${hold.ratio}x), SDK loaded: ${hold.loadsSdk}`,
);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(
  path.join(root, 'bench/results/ship-file-source.json'),
  `${JSON.stringify({ results, hold }, null, 2)}\n`,
);
