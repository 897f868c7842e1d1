// What the notification targets cost a mizual-alerts run, measured side by side in one run (host checks
// only, so the engine's load does not blur it):
//   A  `mizual-alerts --no-docker --cpu-sample 0` with no target (the baseline)
//   B  the same with eight targets configured (seven HTTP formats and a mailto:), no change of state:
//      what every quiet 5-minute run pays for the targets (parsing them, reading the outbox)
//   C  `mizual-alerts --test-notification` to the seven HTTP targets (a local receiver in its own process)
// Wall from the monotonic clock, CPU (user + system) and peak RSS from /usr/bin/time; medians of
// BENCH_RUNS (default 15) alternating runs. Target: B within 1.05x of A.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 15);
const alerts = path.join(root, 'bin/mizual-alerts.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'mizual-bench-notify-'));

// The receiver answers 200 to everything; its own process, since spawnSync blocks this one.
const receiver = spawn(
  process.execPath,
  [
    '-e',
    "const s=require('http').createServer((q,r)=>{q.resume();q.on('end',()=>r.end())});s.listen(0,'127.0.0.1',()=>console.log(s.address().port))",
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise((resolve) => receiver.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
const http = ['slack', 'discord', 'teams', 'telegram', 'ntfy', 'alertmanager', 'json'].map((f) =>
  f === 'telegram'
    ? `http://127.0.0.1:${port}/bot1:x/sendMessage?chat_id=1#format=telegram`
    : `http://127.0.0.1:${port}/${f}#format=${f}`,
);
const base = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  NO_COLOR: '1',
  MIZUAL_HOSTNAME: 'bench',
  MIZUAL_STATE_DIR: path.join(scratch, 'state'),
  MIZUAL_ALERT_LOG: path.join(scratch, 'alerts.log'),
};
const cases = {
  A: { env: base, args: ['--no-docker', '--cpu-sample', '0'] },
  B: {
    env: { ...base, MIZUAL_ALERT_WEBHOOK_URL: [...http, 'mailto:ops@example.com'].join(' ') },
    args: ['--no-docker', '--cpu-sample', '0'],
  },
  C: { env: { ...base, MIZUAL_ALERT_WEBHOOK_URL: http.join(' ') }, args: ['--test-notification'] },
};

function timed({ env, args }) {
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', process.execPath, alerts, ...args], {
    encoding: 'utf8',
    env,
  });
  const wall = performance.now() - started;
  if (r.status !== 0 && r.status !== 1)
    throw new Error(`mizual-alerts ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const [user, sys, rss] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { wall, cpu: (user + sys) * 1000, rssMiB: rss / 1024 };
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

try {
  for (const c of Object.values(cases)) timed(c); // warm up; the first run writes the state
  const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) for (const [k, c] of Object.entries(cases)) samples[k].push(timed(c));
  const row = (k) => {
    const s = samples[k];
    return {
      wall: median(s.map((x) => x.wall)),
      cpu: median(s.map((x) => x.cpu)),
      rss: median(s.map((x) => x.rssMiB)),
    };
  };
  const a = row('A');
  console.log(`medians of ${runs} alternating runs (load ${(await import('node:os')).loadavg()[0].toFixed(1)})`);
  for (const [k, label] of [
    ['A', 'no target (baseline)'],
    ['B', 'eight targets, quiet run'],
    ['C', '--test-notification, seven HTTP targets'],
  ]) {
    const r = row(k);
    console.log(
      `${k} ${label.padEnd(40)} wall ${r.wall.toFixed(0).padStart(4)} ms (${(r.wall / a.wall).toFixed(2)}x)  ` +
        `cpu ${r.cpu.toFixed(0).padStart(4)} ms (${(r.cpu / a.cpu).toFixed(2)}x)  rss ${r.rss.toFixed(1)} MiB`,
    );
  }
} finally {
  receiver.kill();
  rmSync(scratch, { recursive: true, force: true });
}
