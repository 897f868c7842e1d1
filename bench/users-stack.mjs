// Day one's cost (issue 27), measured side by side in one run on the users' stack under docker-compose
// (test/harness/users-stack.ts): `mizual-alerts --json --cpu-sample 0` with everything configured from
// the app's .env (containers discovered, DATABASE_URL, CELERY_BROKER_URL and the health URL reached
// through their Compose names) against the same run with the new parts off (MIZUAL_CONTAINERS naming
// the same containers, the URLs off), and against the same run with the URLs given as the containers'
// addresses (the same figures without discovery or name resolution).
// Wall, and CPU as our own user+sys plus dockerd's (from /proc/<dockerd pid>/stat). Target: <= 1.3x.
// Run: node --import tsx bench/users-stack.mjs (needs the built package, docker-compose, the engine).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { containerOf, startUsersStack, stopUsersStack, writeUsersStack } from '../test/harness/users-stack.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 11);
const alerts = path.join(root, 'bin/mizual-alerts.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'mizual-bench-users-'));
const project = `benchusers${process.pid}`;
const password = `pw-${process.pid}-bench`;
const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const dockerdPid = execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/)[0];

/** dockerd's user+sys CPU seconds so far. */
function dockerdCpu() {
  const stat = readFileSync(`/proc/${dockerdPid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

function run(label, env) {
  const d0 = dockerdCpu();
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', process.execPath, alerts, '--json', '--cpu-sample', '0'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: scratch, NO_COLOR: '1', ...env },
    cwd: scratch,
  });
  const wall = performance.now() - started;
  const d1 = dockerdCpu();
  if (![0, 1, 2].includes(r.status)) throw new Error(`${label} exited ${r.status}: ${r.stderr}`);
  const [user, sys, rss] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  let checks;
  try {
    checks = JSON.parse(r.stdout).checks;
  } catch {
    throw new Error(`${label}: no JSON (exit ${r.status}): ${r.stderr.slice(0, 2000)}`);
  }
  return { wall, own: user + sys, dockerd: d1 - d0, rssMiB: rss / 1024, checks: checks.length };
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const stack = await writeUsersStack(scratch, project, password, 18000 + (process.pid % 1000));
try {
  await startUsersStack(stack);
  const names = {};
  for (const s of ['redis', 'db', 'migration']) names[s] = await containerOf(project, s);
  const ip = (name) =>
    execFileSync('docker', ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name], {
      encoding: 'utf8',
    }).trim();
  const backendPort = execFileSync('docker', ['port', 'mizual-backend', '8000'], { encoding: 'utf8' }).trim();
  const explicit = [
    'backend',
    'celery',
    'registry',
    'watchtower',
    `redis=${names.redis}`,
    `db=${names.db}`,
    `migration=${names.migration}`,
  ].join(',');
  const base = (state) => ({
    MIZUAL_ENV_FILE: stack.envFile,
    MIZUAL_STATE_DIR: path.join(scratch, state),
    MIZUAL_ALERT_LOG: path.join(scratch, `${state}.log`),
  });
  const variants = [
    { label: 'everything from the .env (discovered, Compose names)', env: base('full') },
    {
      label: 'new parts off (MIZUAL_CONTAINERS, URLs off)',
      env: {
        ...base('off'),
        MIZUAL_CONTAINERS: explicit,
        MIZUAL_DATABASE_URL: 'off',
        MIZUAL_CELERY_BROKER_URL: 'off',
        MIZUAL_HEALTH_URL: '',
      },
    },
    {
      label: 'MIZUAL_CONTAINERS, URLs as addresses',
      env: {
        ...base('addr'),
        MIZUAL_CONTAINERS: explicit,
        MIZUAL_DATABASE_URL: `postgresql://app:${password}@${ip(names.db)}:5432/app`,
        MIZUAL_CELERY_BROKER_URL: `redis://${ip(names.redis)}:6379/0`,
        MIZUAL_HEALTH_URL: `http://${backendPort}/health`,
      },
    },
  ];
  for (const v of variants) run(v.label, v.env); // warm caches and each state's CPU baseline
  const samples = variants.map(() => []);
  for (let i = 0; i < runs; i++) variants.forEach((v, j) => samples[j].push(run(v.label, v.env)));
  const rows = variants.map((v, j) => {
    const s = samples[j];
    return {
      label: v.label,
      checks: s[0].checks,
      wallMs: median(s.map((x) => x.wall)),
      ownCpuS: median(s.map((x) => x.own)),
      dockerdCpuS: median(s.map((x) => x.dockerd)),
      cpuS: median(s.map((x) => x.own + x.dockerd)),
      rssMiB: median(s.map((x) => x.rssMiB)),
    };
  });
  const [full, off, addr] = rows;
  console.log(`mizual-alerts on the users' stack, medians of ${runs} alternating runs`);
  for (const r of rows) {
    console.log(
      `${r.label.padEnd(56)} checks ${String(r.checks).padStart(3)}  wall ${r.wallMs.toFixed(0).padStart(5)} ms  ` +
        `cpu ${r.cpuS.toFixed(3)} s (own ${r.ownCpuS.toFixed(3)} + dockerd ${r.dockerdCpuS.toFixed(3)})  rss ${r.rssMiB.toFixed(0)} MiB`,
    );
  }
  const ratio = (a, b) => (a / b).toFixed(2);
  console.log(
    `full / off: wall ${ratio(full.wallMs, off.wallMs)}x, cpu ${ratio(full.cpuS, off.cpuS)}x (target <= 1.3x)`,
  );
  console.log(`full / addresses: wall ${ratio(full.wallMs, addr.wallMs)}x, cpu ${ratio(full.cpuS, addr.cpuS)}x`);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(path.join(root, 'bench/results/users-stack.json'), `${JSON.stringify({ runs, rows }, null, 2)}\n`);
} finally {
  await stopUsersStack(stack).catch((err) => console.error(String(err)));
  rmSync(scratch, { recursive: true, force: true });
}
