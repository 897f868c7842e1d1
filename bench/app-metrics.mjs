// What MIZUAL_APP_METRICS adds to a run, measured side by side in one run (alternating, BENCH_RUNS rounds):
//   A  `mizual-metrics --json --no-docker --sample 1` with no app endpoint,
//   B  the same reading a real prometheus_client endpoint (Debian's python3-prometheus-client) whose
//      request-duration histogram has BENCH_ROUTES handlers x 2 methods x 3 statuses (the default
//      buckets: 17 lines a series), after a first reading so the window's figures are computed;
//   C, D the same pair for `mizual-alerts --json --no-docker --cpu-sample 0 --dry-run`.
// Reported: median wall, user+sys CPU and peak RSS of each, the ratios B/A and D/C, the endpoint's size,
// and the state file's size. Needs the built package and /usr/bin/time. Writes bench/results/app-metrics.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

// Node 20's global fetch (the lint environment of bench/ predates it).
const { fetch } = globalThis;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 9);
const routes = Number(process.env.BENCH_ROUTES ?? 100);
const metrics = path.join(root, 'bin/mizual-metrics.js');
const alerts = path.join(root, 'bin/mizual-alerts.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'mizual-bench-app-metrics-'));

const port = 20000 + Math.floor(Math.random() * 20000);
const app = `
import time
from prometheus_client import Histogram, start_http_server
h = Histogram('http_request_duration_seconds', 'Request duration.', ['handler', 'method', 'status'])
for i in range(${routes}):
    for m in ('GET', 'POST'):
        for s in ('200', '404', '500'):
            h.labels('/api/v1/r%d/{item_id}' % i, m, s).observe(0.01 * (i % 50))
start_http_server(${port}, addr='127.0.0.1')
while True:
    time.sleep(1)
`;
const server = spawn('/usr/bin/python3', ['-c', app], { stdio: ['ignore', 'ignore', 'inherit'] });
const url = `http://127.0.0.1:${port}/metrics`;
for (let i = 0; i < 100; i++) {
  const ok = await fetch(url)
    .then((r) => r.ok)
    .catch(() => false);
  if (ok) break;
  await new Promise((r) => setTimeout(r, 100));
}
const size = (await (await fetch(url)).text()).length;
// What the endpoint itself takes to answer (the app's work, paid by any reader).
const answers = [];
for (let i = 0; i < 7; i++) {
  const started = performance.now();
  await (await fetch(url)).text();
  answers.push((performance.now() - started) / 1000);
}

function envFor(label, withMetrics) {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NO_COLOR: '1',
    MIZUAL_ENV_FILE: '',
    MIZUAL_STATE_DIR: path.join(scratch, label, 'state'),
  };
  if (withMetrics) env.MIZUAL_APP_METRICS = `web=${url}`;
  return env;
}

const metricsArgs = [metrics, '--json', '--no-docker', '--sample', '1'];
const alertsArgs = [alerts, '--json', '--no-docker', '--cpu-sample', '0', '--dry-run'];

function timed(env, args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, ...args], { encoding: 'utf8', env });
  if (r.status === null || r.status > 3) throw new Error(`run failed: ${r.stderr}`);
  const [wall, user, sys, rss] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { wall, cpu: user + sys, rssMiB: rss / 1024 };
}

const variants = [
  { label: 'A: metrics, no app endpoint', env: envFor('a', false), args: metricsArgs, samples: [] },
  { label: `B: metrics, ${routes * 6} series`, env: envFor('b', true), args: metricsArgs, samples: [] },
  { label: 'C: alerts --dry-run, no endpoint', env: envFor('c', false), args: alertsArgs, samples: [] },
  { label: `D: alerts --dry-run, ${routes * 6} series`, env: envFor('b', true), args: alertsArgs, samples: [] },
];
timed(variants[1].env, metricsArgs); // the first reading
for (let i = 0; i < runs; i++) for (const v of variants) v.samples.push(timed(v.env, v.args));
server.kill();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = variants.map((v) => ({
  label: v.label,
  wall: median(v.samples.map((s) => s.wall)),
  cpu: median(v.samples.map((s) => s.cpu)),
  rssMiB: median(v.samples.map((s) => s.rssMiB)),
}));
const [a, b, c, d] = rows;
const ratio = (x, y) => ({ wall: y.wall / x.wall, cpu: y.cpu / x.cpu, rss: y.rssMiB / x.rssMiB });
const result = {
  runs,
  endpointBytes: size,
  stateBytes: statSync(path.join(scratch, 'b', 'state', 'app-metrics.json')).size,
  rows,
  metrics: ratio(a, b),
  alerts: ratio(c, d),
};
for (const r of rows) {
  console.log(
    `${r.label.padEnd(40)} wall ${r.wall.toFixed(2)} s  cpu ${r.cpu.toFixed(2)} s  rss ${r.rssMiB.toFixed(1)} MiB`,
  );
}
for (const [name, r] of [
  ['metrics B/A', result.metrics],
  ['alerts D/C', result.alerts],
]) {
  console.log(`${name}: wall ${r.wall.toFixed(2)}x, cpu ${r.cpu.toFixed(2)}x, rss ${r.rss.toFixed(2)}x`);
}
result.endpointAnswerSeconds = median(answers);
console.log(
  `endpoint ${(size / 1024).toFixed(0)} KiB answered in ${result.endpointAnswerSeconds.toFixed(2)} s (median), ` +
    `state ${(result.stateBytes / 1024).toFixed(0)} KiB`,
);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/app-metrics.json'), `${JSON.stringify(result, null, 2)}\n`);
rmSync(scratch, { recursive: true, force: true });
