// Start-up and container-stats benchmark for mizual-metrics (issue 2), measured side by side in one run:
//   1. `mizual-metrics --json --no-docker --sample 1` vs `node -e 0`: median wall (minus the 1 ms sample) and peak RSS.
//   2. `mizual-metrics --json` vs `docker stats --no-stream` for the same 5 running containers: median wall.
// Needs the built package (npm run build), /usr/bin/time, and a Docker engine with the test image
// (bash test/harness/docker-up.sh). Prints a table and writes bench/results/metrics.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 11);
const metrics = path.join(root, 'bin/mizual-metrics.js');
const image = 'mizual-test-busybox:1';
const names = [1, 2, 3, 4, 5].map((i) => `mizual-bench-${i}`);

function timed(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').at(-1).split(' ');
  return { wall: Number(last[0]) * 1000, rssMiB: Number(last[1]) / 1024 };
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Runs the commands alternately so a noisy neighbour slows baseline and candidate alike.
function measurePair(a, b) {
  timed(a.cmd, a.args); // warm the page cache
  timed(b.cmd, b.args);
  const sa = [];
  const sb = [];
  for (let i = 0; i < runs; i++) {
    sa.push(timed(a.cmd, a.args));
    sb.push(timed(b.cmd, b.args));
  }
  const summary = (x, s) => ({
    label: x.label,
    wallMs: median(s.map((v) => v.wall)) - (x.adjustMs ?? 0),
    rssMiB: median(s.map((v) => v.rssMiB)),
  });
  return [summary(a, sa), summary(b, sb)];
}

const results = [];
results.push(
  ...measurePair(
    { label: 'node -e 0', cmd: process.execPath, args: ['-e', '0'] },
    {
      label: 'mizual-metrics --json --no-docker (minus 1 ms sample)',
      cmd: process.execPath,
      args: [metrics, '--json', '--no-docker', '--sample', '1'],
      adjustMs: 1,
    },
  ),
);

execFileSync('docker', ['rm', '-f', ...names], { stdio: 'ignore' });
try {
  for (const [i, name] of names.entries()) {
    // Two containers burn CPU so the figures are not all zero.
    const script = i < 2 ? 'while :; do :; done' : 'while :; do echo tick; sleep 1; done';
    execFileSync(
      'docker',
      ['run', '-d', '--network', 'none', '--label', 'mizual-test=1', '--name', name, image, 'sh', '-c', script],
      { stdio: 'ignore' },
    );
  }
  results.push(
    ...measurePair(
      { label: 'docker stats --no-stream (5 containers)', cmd: 'docker', args: ['stats', '--no-stream', ...names] },
      {
        label: 'mizual-metrics --json (5 containers, 500 ms sample)',
        cmd: process.execPath,
        args: [metrics, '--json'],
      },
    ),
  );
} finally {
  execFileSync('docker', ['rm', '-f', ...names], { stdio: 'ignore' });
}

const [node, noDocker, dockerStats, withDocker] = results;
const ratios = {
  startupWall: noDocker.wallMs / node.wallMs,
  startupRss: noDocker.rssMiB / node.rssMiB,
  containersVsDockerStats: withDocker.wallMs / dockerStats.wallMs,
};
for (const r of results)
  console.log(`${r.label.padEnd(58)} ${r.wallMs.toFixed(0).padStart(6)} ms ${r.rssMiB.toFixed(1).padStart(7)} MiB`);
console.log(
  `start-up wall ratio ${ratios.startupWall.toFixed(2)} (target <= 1.5), RSS ratio ${ratios.startupRss.toFixed(2)} (target <= 1.5)`,
);
console.log(`--json with containers / docker stats ${ratios.containersVsDockerStats.toFixed(2)} (target <= 0.5)`);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/metrics.json'), JSON.stringify({ runs, results, ratios }, null, 2));
