// Start-up benchmark for mizual-alerts (issue 5), measured side by side in one run:
//   `mizual-alerts --json --cpu-sample 0` with Docker checks on 5 running containers (CPU from the
//   previous run's counters, so no sampling wait) vs `node -e 0` and one raw Engine API round trip
//   (`curl --unix-socket … /containers/<name>/json`, curl's own start-up included).
// Targets: wall <= 2 x (node -e 0) + the round trip, peak RSS <= 1.5 x node's.
// Needs the built package (npm run build), /usr/bin/time, curl, and a Docker engine with the test
// image (bash test/harness/docker-up.sh). Prints a table and writes bench/results/alerts.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 15);
const alerts = path.join(root, 'bin/mizual-alerts.js');
const image = 'mizual-test-busybox:1';
const names = [1, 2, 3, 4, 5].map((i) => `mizual-bench-alerts-${i}`);
const scratch = mkdtempSync(path.join(tmpdir(), 'mizual-bench-alerts-'));
const env = {
  ...process.env,
  NO_COLOR: '1',
  MIZUAL_STATE_DIR: path.join(scratch, 'state'),
  MIZUAL_ALERT_LOG: path.join(scratch, 'alerts.log'),
  MIZUAL_CONTAINERS: names.map((n, i) => `c${i}=${n}`).join(','),
  MIZUAL_ENV_FILE: '',
};
delete env.MIZUAL_ALERT_WEBHOOK_URL;
delete env.MIZUAL_HEALTH_URL;

// Exit codes 0-2 are the plugin statuses, not failures.
function timed(cmd, args, okCodes = [0]) {
  // Wall from the monotonic clock around the spawn (time's %e has 10 ms steps, too coarse for ~80 ms runs).
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', env, cwd: scratch });
  const wall = performance.now() - started;
  if (!okCodes.includes(r.status)) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').at(-1).split(' ');
  return { wall, rssMiB: Number(last[1]) / 1024 };
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Alternate the commands so a noisy neighbour slows every one alike.
function measure(list) {
  for (const x of list) timed(x.cmd, x.args, x.okCodes); // warm the page cache (and the CPU baseline)
  const samples = list.map(() => []);
  for (let i = 0; i < runs; i++) list.forEach((x, j) => samples[j].push(timed(x.cmd, x.args, x.okCodes)));
  return list.map((x, j) => ({
    label: x.label,
    wallMs: median(samples[j].map((v) => v.wall)),
    rssMiB: median(samples[j].map((v) => v.rssMiB)),
  }));
}

execFileSync('docker', ['rm', '-f', ...names], { stdio: 'ignore' });
let results;
try {
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
  const socket = (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '');
  results = measure([
    { label: 'node -e 0', cmd: process.execPath, args: ['-e', '0'] },
    {
      label: 'Engine API round trip (curl inspect)',
      cmd: 'curl',
      args: ['-sf', '-o', '/dev/null', '--unix-socket', socket, `http://docker/containers/${names[0]}/json`],
    },
    {
      label: 'mizual-alerts --json (5 containers, no sampling wait)',
      cmd: process.execPath,
      args: [alerts, '--json', '--cpu-sample', '0'],
      okCodes: [0, 1, 2],
    },
  ]);
} finally {
  execFileSync('docker', ['rm', '-f', ...names], { stdio: 'ignore' });
  rmSync(scratch, { recursive: true, force: true });
}

const [node, roundTrip, run] = results;
const budgetMs = 2 * node.wallMs + roundTrip.wallMs;
const ratios = {
  wallVsBudget: run.wallMs / budgetMs,
  wallVsNodePlusRoundTrip: run.wallMs / (node.wallMs + roundTrip.wallMs),
  rss: run.rssMiB / node.rssMiB,
};
for (const r of results)
  console.log(`${r.label.padEnd(58)} ${r.wallMs.toFixed(0).padStart(6)} ms ${r.rssMiB.toFixed(1).padStart(7)} MiB`);
console.log(
  `wall ${run.wallMs.toFixed(0)} ms vs budget 2 x node + round trip = ${budgetMs.toFixed(0)} ms ` +
    `(ratio ${ratios.wallVsBudget.toFixed(2)}, target <= 1); wall / (node + round trip) ${ratios.wallVsNodePlusRoundTrip.toFixed(2)}`,
);
console.log(`RSS ratio ${ratios.rss.toFixed(2)} (target <= 1.5)`);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(
  path.join(root, 'bench/results/alerts.json'),
  JSON.stringify({ runs, results, budgetMs, ratios }, null, 2),
);
