// Application figures from logs (issue 20), measured side by side in one run:
//   1. 1 M uvicorn access lines in one json-file log (~136 MB): `mizual-metrics --json --sample 1` from a
//      fresh state (the figures computed: status classes, routes, window) vs a mawk one-liner that counts
//      the same status classes; wall time, their ratio and peak RSS. The same mizual-metrics run over an
//      empty log is measured too, so the cost of the log alone is visible.
//   2. Start-up: `mizual-metrics --json --sample 1` with the application section (a configured container
//      with an empty log) vs the same command of the package before it (BENCH_BASE, default the merge
//      base with main, built into a temp dir from `git archive`).
// Needs the built package (node scripts/build.mjs), /usr/bin/time, mawk, and the test engine
// (bash test/harness/docker-up.sh); run as root (it writes the container's json-file log).
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 5);
const lines = Number(process.env.BENCH_LINES ?? 1_000_000);
const metrics = path.join(root, 'bin/mizual-metrics.js');
const image = 'mizual-test-busybox:1';
const name = `mizual-bench-app-${process.pid}`;
const emptyName = `mizual-bench-app-empty-${process.pid}`;
const work = mkdtempSync(path.join(tmpdir(), 'mizual-bench-app-'));

function docker(args) {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

/** `INFO:     172.18.0.1:51234 - "GET /api/v1/edits/42 HTTP/1.1" 200 OK` as dockerd writes it, over the last 4 min. */
function writeLog(file, n) {
  const fd = openSync(file, 'w');
  // The figure is 136 MB for 1 M lines: routes and addresses of that line's length.
  const routes = ['/api/v1/edits/42', '/api/v1/edits/7', '/health', '/api/v1/edits/42/stages'];
  const codes = [
    '200 OK',
    '200 OK',
    '200 OK',
    '201 Created',
    '304 Not Modified',
    '404 Not Found',
    '500 Internal Server Error',
  ];
  const methods = ['GET', 'GET', 'POST', 'PUT'];
  const base = Date.now() - 240_000;
  let parts = [];
  for (let i = 0; i < n; i++) {
    const ms = base + Math.floor((i * 240_000) / n);
    const t = new Date(ms).toISOString().replace('Z', `${String(i % 1_000_000).padStart(6, '0')}Z`);
    parts.push(
      `{"log":"INFO:     172.18.0.${i % 10}:${40000 + (i % 20000)} - \\"${methods[i % 4]} ${routes[i % 4]} HTTP/1.1\\" ${codes[i % 7]}\\n","stream":"stdout","time":"${t}"}\n`,
    );
    if (parts.length === 10_000) {
      writeSync(fd, parts.join(''));
      parts = [];
    }
  }
  writeSync(fd, parts.join(''));
  closeSync(fd);
}

function timed(cmd, args, env = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').at(-1).split(' ');
  return { wall: Number(last[0]) * 1000, rssMiB: Number(last[1]) / 1024, stdout: r.stdout };
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const mawkProgram =
  'match($0, /\\\\" [1-5][0-9][0-9] /) { c[substr($0, RSTART + 3, 1)]++ } END { for (k in c) print k "xx", c[k] }';

try {
  docker(['run', '--name', name, '--label', 'mizual-test=1', image, 'true']);
  docker(['run', '--name', emptyName, '--label', 'mizual-test=1', image, 'true']);
  const logPath = docker(['inspect', '-f', '{{.LogPath}}', name]);
  const emptyLog = docker(['inspect', '-f', '{{.LogPath}}', emptyName]);
  writeLog(logPath, lines);
  writeFileSync(emptyLog, '');
  const size = Number(execFileSync('stat', ['-c', '%s', logPath], { encoding: 'utf8' }));
  const fresh = () => {
    const dir = path.join(work, `state-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir, { mode: 0o700 });
    return dir;
  };
  let lastState = null;
  const run = (container, extra = {}) => {
    lastState = fresh();
    return timed(process.execPath, [metrics, '--json', '--sample', '1'], {
      MIZUAL_CONTAINERS: `app=${container}`,
      MIZUAL_STATE_DIR: lastState,
      ...extra,
    });
  };
  // Warm the page cache and check the figures once.
  timed('mawk', [mawkProgram, logPath]);
  const check = JSON.parse(run(name).stdout);
  const stateBytes = Number(
    execFileSync('stat', ['-c', '%s', path.join(lastState, 'app-logs.json')], { encoding: 'utf8' }),
  );
  const http = check.app.http[0];
  if (!http || http.requests !== lines) throw new Error(`expected ${lines} requests, got ${JSON.stringify(http)}`);
  // The baseline: the package as it was before the application section.
  const base =
    process.env.BENCH_BASE ??
    execFileSync('git', ['merge-base', 'HEAD', 'main'], { cwd: root, encoding: 'utf8' }).trim();
  const baseDir = path.join(work, 'base');
  mkdirSync(baseDir);
  execFileSync('sh', ['-c', 'git archive "$0" | tar -x -C "$1"', base, baseDir], { cwd: root });
  execFileSync('ln', ['-s', path.join(root, 'node_modules'), path.join(baseDir, 'node_modules')]);
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: baseDir, stdio: 'ignore' });
  const baseMetrics = path.join(baseDir, 'bin/mizual-metrics.js');
  const startBase = [];
  const startApp = [];
  const mawk = [];
  const full = [];
  const empty = [];
  const noDocker = [];
  for (let i = 0; i < runs; i++) {
    mawk.push(timed('mawk', [mawkProgram, logPath]));
    full.push(run(name));
    empty.push(run(emptyName));
    startBase.push(
      timed(process.execPath, [baseMetrics, '--json', '--sample', '1'], {
        MIZUAL_CONTAINERS: `app=${emptyName}`,
        MIZUAL_STATE_DIR: fresh(),
      }),
    );
    startApp.push(empty.at(-1));
    noDocker.push(
      timed(process.execPath, [metrics, '--json', '--sample', '1', '--no-docker'], { MIZUAL_STATE_DIR: fresh() }),
    );
  }
  const m = (s) => ({ wallMs: median(s.map((v) => v.wall)), rssMiB: median(s.map((v) => v.rssMiB)) });
  const result = {
    lines,
    bytes: size,
    runs,
    mawk: m(mawk),
    metricsWith1MLines: m(full),
    metricsEmptyLog: m(empty),
    metricsNoDocker: m(noDocker),
    stateBytes,
  };
  result.startupBase = m(startBase);
  result.startupWithApp = m(startApp);
  result.startupRatio = result.startupWithApp.wallMs / result.startupBase.wallMs;
  result.base = base;
  result.ratioWholeProcess = result.metricsWith1MLines.wallMs / result.mawk.wallMs;
  result.ratioLogPart = (result.metricsWith1MLines.wallMs - result.metricsEmptyLog.wallMs) / result.mawk.wallMs;
  console.log(`1M uvicorn lines, ${(size / 1e6).toFixed(0)} MB json-file, median of ${runs} alternating runs`);
  console.log(
    `  mawk status classes              ${result.mawk.wallMs.toFixed(0)} ms  ${result.mawk.rssMiB.toFixed(1)} MiB`,
  );
  console.log(
    `  mizual-metrics --json (1M lines) ${result.metricsWith1MLines.wallMs.toFixed(0)} ms  ${result.metricsWith1MLines.rssMiB.toFixed(1)} MiB peak RSS`,
  );
  console.log(
    `  mizual-metrics --json (empty)    ${result.metricsEmptyLog.wallMs.toFixed(0)} ms  ${result.metricsEmptyLog.rssMiB.toFixed(1)} MiB`,
  );
  console.log(
    `  mizual-metrics --no-docker       ${result.metricsNoDocker.wallMs.toFixed(0)} ms  ${result.metricsNoDocker.rssMiB.toFixed(1)} MiB`,
  );
  console.log(`  ratio whole process / mawk       ${result.ratioWholeProcess.toFixed(2)}x (target 3x)`);
  console.log(`  ratio log part (1M - empty) / mawk ${result.ratioLogPart.toFixed(2)}x`);
  console.log(
    `  app-logs.json after the 1M lines  ${(stateBytes / 1024).toFixed(1)} KiB (ceiling 768 KiB a container)`,
  );
  console.log(`start-up, mizual-metrics --json --sample 1, one configured container with an empty log`);
  console.log(
    `  before (${base.slice(0, 10)})              ${result.startupBase.wallMs.toFixed(0)} ms  ${result.startupBase.rssMiB.toFixed(1)} MiB`,
  );
  console.log(
    `  with the application section     ${result.startupWithApp.wallMs.toFixed(0)} ms  ${result.startupWithApp.rssMiB.toFixed(1)} MiB`,
  );
  console.log(`  ratio                            ${result.startupRatio.toFixed(2)}x (target 1.5x)`);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(path.join(root, 'bench/results/app-logs.json'), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  spawnSync('docker', ['rm', '-f', name, emptyName], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
