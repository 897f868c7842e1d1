// Benchmark of the history (issue 22), measured side by side in one run:
//   1. `mizual-alerts --json --cpu-sample 0` (5 running containers) WITH the history store, on a state that
//      already holds a week of samples of ten containers, vs the same run of the version before the history
//      (built from `git merge-base HEAD main` into a scratch directory). Target: within 1.1x.
//   2. `mizual-metrics --history --since 7d` (terminal charts, output to a pipe) vs the dashboard's own
//      start-up `mizual-metrics --no-docker --sample 1`. Target: under 1.5x.
//   3. The size of `--history --since 7d --html` for that week. Target: under 1 MiB.
// Needs the built package (npm run build), git, /usr/bin/time and a Docker engine with the test image
// (bash test/harness/docker-up.sh). Prints a table and writes bench/results/history.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 15);
const image = 'mizual-test-busybox:1';
const names = [1, 2, 3, 4, 5].map((i) => `mizual-bench-history-${i}`);
const scratch = mkdtempSync(path.join(tmpdir(), 'mizual-bench-history-'));
const base = path.join(scratch, 'base');
const env = (stateDir) => ({
  ...process.env,
  NO_COLOR: '1',
  MIZUAL_STATE_DIR: stateDir,
  MIZUAL_ALERT_LOG: path.join(stateDir, 'alerts.log'),
  MIZUAL_CONTAINERS: names.map((n, i) => `c${i}=${n}`).join(','),
  MIZUAL_ENV_FILE: '',
  MIZUAL_ALERT_WEBHOOK_URL: '',
  MIZUAL_HEALTH_URL: '',
});

function timed(x) {
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M %U %S', x.cmd, ...x.args], {
    encoding: 'utf8',
    env: x.env,
    cwd: scratch,
    maxBuffer: 64 * 1024 * 1024,
  });
  const wall = performance.now() - started;
  if (!(x.okCodes ?? [0]).includes(r.status)) throw new Error(`${x.label} exited ${r.status}: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').at(-1).split(' ');
  return { wall, rssMiB: Number(last[1]) / 1024, cpuMs: (Number(last[2]) + Number(last[3])) * 1000 };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// Alternate the commands so a noisy neighbour slows every one alike.
function measure(list) {
  for (const x of list) timed(x);
  const samples = list.map(() => []);
  for (let i = 0; i < runs; i++) list.forEach((x, j) => samples[j].push(timed(x)));
  return list.map((x, j) => ({
    label: x.label,
    wallMs: median(samples[j].map((v) => v.wall)),
    rssMiB: median(samples[j].map((v) => v.rssMiB)),
    cpuMs: median(samples[j].map((v) => v.cpuMs)),
  }));
}

const node = process.execPath;
let results;
let htmlBytes;
let historyBytes;
execFileSync('docker', ['rm', '-f', ...names], { stdio: 'ignore' });
try {
  // The version before the history, built from the merge base with main.
  mkdirSync(base);
  const mergeBase = execFileSync('git', ['merge-base', 'HEAD', 'main'], { cwd: root, encoding: 'utf8' }).trim();
  execFileSync('sh', ['-c', 'git archive "$1" | tar -x -C "$2"', 'sh', mergeBase, base], { cwd: root });
  symlinkSync(path.join(root, 'node_modules'), path.join(base, 'node_modules'));
  execFileSync(node, ['scripts/build.mjs'], { cwd: base, stdio: 'ignore' });

  for (const name of names) {
    execFileSync(
      'docker',
      [
        'run',
        '-d',
        '--network',
        'none',
        '--label',
        'mizual-test=1',
        '--name',
        name,
        image,
        'sh',
        '-c',
        'while :; do sleep 1; done',
      ],
      { stdio: 'ignore' },
    );
  }
  const withState = path.join(scratch, 'with');
  const withoutState = path.join(scratch, 'without');
  mkdirSync(withoutState, { mode: 0o700 });
  // A week of ten containers' samples up to now, made by the same code as the tests' week.
  execFileSync(node, ['--import', 'tsx', 'test/helpers/history-week.ts', withState, new Date().toISOString()], {
    cwd: root,
  });
  historyBytes = Number(
    execFileSync('du', ['-sb', path.join(withState, 'history')], { encoding: 'utf8' }).split('\t')[0],
  );
  const metrics = path.join(root, 'bin/mizual-metrics.js');
  const page = path.join(scratch, 'week.html');
  execFileSync(node, [metrics, '--history', '--since', '7d', '--html', page], { env: env(withState), stdio: 'ignore' });
  htmlBytes = statSync(page).size;
  results = measure([
    { label: 'node -e 0', cmd: node, args: ['-e', '0'], env: env(withoutState) },
    {
      label: 'mizual-alerts, version before the history',
      cmd: node,
      args: [path.join(base, 'bin/mizual-alerts.js'), '--json', '--cpu-sample', '0'],
      env: env(withoutState),
      okCodes: [0, 1, 2],
    },
    {
      label: 'mizual-alerts with the history (a week kept)',
      cmd: node,
      args: [path.join(root, 'bin/mizual-alerts.js'), '--json', '--cpu-sample', '0'],
      env: env(withState),
      okCodes: [0, 1, 2],
    },
    {
      label: 'mizual-metrics --no-docker --sample 1 (dashboard)',
      cmd: node,
      args: [metrics, '--no-docker', '--sample', '1'],
      env: env(withState),
    },
    {
      label: 'mizual-metrics --history --since 7d',
      cmd: node,
      args: [metrics, '--history', '--since', '7d'],
      env: env(withState),
    },
  ]);
} finally {
  execFileSync('docker', ['rm', '-f', ...names], { stdio: 'ignore' });
  rmSync(scratch, { recursive: true, force: true });
}

const [nodeRun, before, withHistory, dashboard, history] = results;
const ratios = {
  alertsWithHistoryVsBefore: withHistory.wallMs / before.wallMs,
  historyVsDashboard: history.wallMs / dashboard.wallMs,
  // CPU time (user + sys) is steadier than wall time on a busy machine.
  alertsCpuWithHistoryVsBefore: withHistory.cpuMs / before.cpuMs,
  historyCpuVsDashboard: history.cpuMs / dashboard.cpuMs,
  htmlMiB: htmlBytes / 1024 / 1024,
  storeMiB: historyBytes / 1024 / 1024,
};
console.log(`${'median of ' + runs + ' alternating runs'.padEnd(52)}   wall     cpu      RSS`);
for (const r of results) {
  const cols = [`${r.wallMs.toFixed(0)} ms`, `${r.cpuMs.toFixed(0)} ms`, `${r.rssMiB.toFixed(1)} MiB`];
  console.log(`${r.label.padEnd(52)} ${cols.map((c) => c.padStart(8)).join(' ')}`);
}
console.log(`node -e 0 for scale: ${nodeRun.wallMs.toFixed(0)} ms`);
console.log(
  `alerts run with history / before it: wall ${ratios.alertsWithHistoryVsBefore.toFixed(2)}, ` +
    `cpu ${ratios.alertsCpuWithHistoryVsBefore.toFixed(2)} (target <= 1.1)`,
);
console.log(
  `--history 7 days / dashboard start-up: wall ${ratios.historyVsDashboard.toFixed(2)}, ` +
    `cpu ${ratios.historyCpuVsDashboard.toFixed(2)} (target < 1.5)`,
);
console.log(`HTML page of 7 days: ${htmlBytes} bytes (target < 1 MiB); store of the week: ${historyBytes} bytes`);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(
  path.join(root, 'bench/results/history.json'),
  JSON.stringify({ runs, results, htmlBytes, historyBytes, ratios }, null, 2),
);
