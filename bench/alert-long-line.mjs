// A 200 MB unfinished alert-log line (issue 15): `mizual-ship-logs --no-upload` with an ordinary alert
// log vs the same log followed by 200 MB without a newline, for this tree and for a baseline build of
// an older commit, all in one run. Target: with the long line, peak RSS within 20 MB and wall within
// 1.5x of the ordinary run.
// The baseline: BENCH_BASELINE=DIR (a built checkout), else `git archive` of BENCH_BASELINE_COMMIT
// (default 30cc89d, before the fix) unpacked and built in a temp dir.
// Needs the built package (node scripts/build.mjs), /usr/bin/time and a Docker engine (no container
// is configured that exists; the engine only answers "no such container").
// Writes bench/results/alert-long-line.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lineMB = Number(process.env.BENCH_LINE_MB ?? 200);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const scratch = mkdtempSync(path.join(tmpdir(), 'mizual-bench-longline-'));

function baselineRoot() {
  if (process.env.BENCH_BASELINE) return process.env.BENCH_BASELINE;
  const commit = process.env.BENCH_BASELINE_COMMIT ?? '30cc89d';
  const dir = path.join(scratch, 'baseline');
  mkdirSync(dir);
  const tar = execFileSync('git', ['-C', root, 'archive', commit]);
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, stdio: 'ignore' });
  return dir;
}

// One alert log of ordinary lines; the long variant appends lineMB MB with no newline.
const ordinary = path.join(scratch, 'ordinary.log');
const lines = [];
for (let i = 0; i < 2000; i++)
  lines.push(`${new Date().toISOString()} WARNING cpu: CPU at ${i % 100}% (threshold 80%)`);
writeFileSync(ordinary, `${lines.join('\n')}\n`);
const longLog = path.join(scratch, 'long.log');
cpSync(ordinary, longLog);
const mb = Buffer.alloc(1024 * 1024, 'y');
appendFileSync(longLog, `${new Date().toISOString()} CRITICAL huge: `);
for (let i = 0; i < lineMB; i++) appendFileSync(longLog, mb);

function envFor(tree, log, n) {
  const base = path.join(scratch, `${path.basename(tree)}-${path.basename(log)}-${n}`);
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    MIZUAL_ENV_FILE: '',
    MIZUAL_CONTAINERS: 'none=mizual-bench-absent',
    MIZUAL_LOG_DIR: path.join(base, 'logs'),
    MIZUAL_STATE_DIR: path.join(base, 'state'),
    MIZUAL_ALERT_LOG: log,
  };
}

function timed(tree, log, n) {
  const env = envFor(tree, log, n);
  const r = spawnSync(
    '/usr/bin/time',
    ['-f', '%e %M', process.execPath, path.join(tree, 'bin/mizual-ship-logs.js'), '--no-upload'],
    {
      encoding: 'utf8',
      env,
      cwd: scratch,
    },
  );
  if (r.status !== 0) throw new Error(`${tree} exited ${r.status}: ${r.stderr}`);
  rmSync(path.dirname(env.MIZUAL_LOG_DIR), { recursive: true, force: true });
  const last = r.stderr.trim().split('\n').at(-1).split(' ');
  return { wallS: Number(last[0]), rssMiB: Number(last[1]) / 1024 };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

let results;
try {
  const trees = [
    { label: 'new', dir: root },
    { label: 'baseline', dir: baselineRoot() },
  ];
  results = [];
  for (const tree of trees) {
    for (const [label, log] of [
      ['ordinary alert log', ordinary],
      [`+ ${lineMB} MB unfinished line`, longLog],
    ]) {
      timed(tree.dir, log, 'warm');
      // The old code takes minutes on the long line: measure it once.
      const n = tree.label === 'baseline' && log === longLog ? 1 : runs;
      const samples = Array.from({ length: n }, (_, i) => timed(tree.dir, log, i));
      results.push({
        tree: tree.label,
        case: label,
        wallS: median(samples.map((s) => s.wallS)),
        rssMiB: median(samples.map((s) => s.rssMiB)),
      });
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

console.log('tree      case                              wall s   peak RSS MiB');
for (const r of results) {
  console.log(
    `${r.tree.padEnd(9)} ${r.case.padEnd(33)} ${r.wallS.toFixed(2).padStart(6)}   ${r.rssMiB.toFixed(0).padStart(6)}`,
  );
}
for (const tree of ['new', 'baseline']) {
  const [plain, long] = results.filter((r) => r.tree === tree);
  console.log(
    `${tree}: long line costs ${(long.rssMiB - plain.rssMiB).toFixed(1)} MiB more RSS (target <= 20 MB), ` +
      `${(long.wallS / plain.wallS).toFixed(2)}x the wall (target <= 1.5x)`,
  );
}
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(
  path.join(root, 'bench/results/alert-long-line.json'),
  `${JSON.stringify({ lineMB, runs, results }, null, 2)}\n`,
);
