// What probes add to a mizual-alerts run (issue 20), measured side by side in one run:
//   A  `mizual-alerts --json --no-docker --cpu-sample 0` with no probe,
//   B  the same with four probes (three quick routes and one that answers after SLOW_MS),
//   C  the same with only the slow probe.
// Target: B adds no more than the slowest probe's time, i.e. B - A <= (C - A) + 10% of the slow route
// (the probes run concurrently with each other and with the other checks).
// The probed server is a separate node process (spawnSync blocks this one). Needs the built package
// (npm run build) and /usr/bin/time. Prints a table and writes bench/results/app-probes.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 5);
const SLOW_MS = Number(process.env.BENCH_SLOW_MS ?? 1500);
const alerts = path.join(root, 'bin/mizual-alerts.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'mizual-bench-probes-'));

const serverCode = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/slow')) setTimeout(() => res.end('slow'), ${SLOW_MS});
  else res.end('ok');
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;
const server = spawn(process.execPath, ['-e', serverCode], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve) => server.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
const base = `http://127.0.0.1:${port}`;

function envFor(label, probes) {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NO_COLOR: '1',
    MIZUAL_ENV_FILE: '',
    MIZUAL_STATE_DIR: path.join(scratch, label, 'state'),
    MIZUAL_ALERT_LOG: path.join(scratch, label, 'alerts.log'),
  };
  if (probes) env.MIZUAL_PROBES = probes;
  return env;
}

const variants = [
  { label: 'A: no probe', env: envFor('a', null) },
  { label: 'B: four probes (one slow)', env: envFor('b', `a=${base}/a,b=${base}/b,c=${base}/c,slow=${base}/slow`) },
  { label: 'C: the slow probe alone', env: envFor('c', `slow=${base}/slow`) },
];

function timed(env) {
  const started = performance.now();
  const r = spawnSync(
    '/usr/bin/time',
    ['-f', '%e %M', process.execPath, alerts, '--json', '--no-docker', '--cpu-sample', '0'],
    {
      encoding: 'utf8',
      env,
    },
  );
  const wall = performance.now() - started;
  if (![0, 1, 2].includes(r.status)) throw new Error(`mizual-alerts exited ${r.status}: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').at(-1).split(' ');
  return { wall, rssMiB: Number(last[1]) / 1024 };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

let rows;
try {
  for (const v of variants) timed(v.env); // warm up (and give each its state)
  const samples = variants.map(() => []);
  // Alternate, so a noisy neighbour slows every variant alike.
  for (let i = 0; i < runs; i++) variants.forEach((v, j) => samples[j].push(timed(v.env)));
  rows = variants.map((v, j) => ({
    label: v.label,
    wallMs: Math.round(median(samples[j].map((s) => s.wall))),
    rssMiB: Math.round(median(samples[j].map((s) => s.rssMiB)) * 10) / 10,
  }));
} finally {
  server.kill();
  rmSync(scratch, { recursive: true, force: true });
}

const [a, b, c] = rows;
const added = b.wallMs - a.wallMs;
const slowest = c.wallMs - a.wallMs;
const pass = added <= slowest + 0.1 * SLOW_MS;
console.log(`median of ${runs} runs each, slow route ${SLOW_MS} ms`);
for (const r of rows) console.log(`${r.label.padEnd(28)} ${String(r.wallMs).padStart(6)} ms  ${r.rssMiB} MiB`);
console.log(`four probes add ${added} ms; the slow probe alone adds ${slowest} ms -> ${pass ? 'PASS' : 'FAIL'}`);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(
  path.join(root, 'bench/results/app-probes.json'),
  `${JSON.stringify({ runs, slowMs: SLOW_MS, rows, addedMs: added, slowestAloneMs: slowest, pass }, null, 2)}\n`,
);
if (!pass) process.exitCode = 1;
