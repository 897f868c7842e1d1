// The database checks' cost (issues 21 and 29), measured side by side in one run against the harness's
// Postgres (bash test/harness/postgres-up.sh), with the pg_monitor role over TLS, after a workload of
// BENCH_STATEMENTS (1000) distinct statements so pg_stat_statements holds what a real app leaves there:
//   - database time of an alerts run: pg_stat_statements' own total_exec_time of our statements (they
//     start with /* mizual-monitoring */), and connections opened (pg_stat_database.sessions);
//   - a psql baseline: the very statements one run sends (recorded through the collectors), replayed by
//     psql in one session, measured the same way;
//   - alerts wall time with and without DATABASE_URL (--no-docker --cpu-sample 0), alternating.
// Target: at most 100 ms of database time and one connection per run.
// Run: node scripts/build.mjs && node --import tsx bench/db.mjs   (writes bench/results/db.json)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 7);
const state = process.env.MIZUAL_TEST_STATE ?? '/tmp/mizual-test';
const h = Object.fromEntries(
  readFileSync(path.join(state, 'postgres.env'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(/=(.*)/s).slice(0, 2))
    .map(([k, v]) => [k, v.replace(/^'(.*)'$/, '$1')]),
);
const url = `postgresql+psycopg2://${h.PG_TEST_MON_USER}:${encodeURIComponent(h.PG_TEST_MON_PASSWORD)}@127.0.0.1:${h.PG_TEST_PORT}/appdb?sslmode=require`;
const scratch = mkdtempSync(path.join(tmpdir(), 'mizual-bench-db-'));
const baseEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  NO_COLOR: '1',
  MIZUAL_ENV_FILE: '',
  MIZUAL_STATE_DIR: path.join(scratch, 'state'),
  MIZUAL_ALERT_LOG: path.join(scratch, 'alerts.log'),
};

/** psql as the harness's superuser over its socket (as the postgres user: the socket's peer). */
const adminPsql = (args, input) =>
  execFileSync(
    'runuser',
    [
      '-u',
      'postgres',
      '--',
      path.join(h.PG_TEST_BIN, 'psql'),
      '-X',
      '-h',
      h.PG_TEST_SOCKET,
      '-p',
      h.PG_TEST_PORT,
      '-U',
      h.PG_TEST_ADMIN_USER,
      '-d',
      'appdb',
      ...args,
    ],
    { encoding: 'utf8', ...(input === undefined ? {} : { input }) },
  );
const adminSql = (sql) => adminPsql(['-qtA', '-c', sql]).trim();

/**
 * Database time (ms) and calls of statements starting with this mark, and sessions opened on appdb so
 * far (less the ones these measurements opened themselves: one each, counted once it has ended).
 */
let measured = 0;
function measure(mark) {
  const [ms, calls, sessions] = adminSql(
    `SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0),
            (SELECT sessions FROM pg_stat_database WHERE datname = 'appdb')
       FROM pg_stat_statements WHERE query LIKE '${mark}%'`,
  ).split('|');
  return { ms: Number(ms), calls: Number(calls), sessions: Number(sessions) - measured++ };
}
/** pg_stat_database is flushed by exiting backends; give the last one a moment. */
const settle = () => new Promise((r) => setTimeout(r, 300));

function alertsRun(withDb) {
  const env = withDb ? { ...baseEnv, DATABASE_URL: url } : baseEnv;
  const started = performance.now();
  const r = spawnSync(
    process.execPath,
    [path.join(root, 'bin/mizual-alerts.js'), '--no-docker', '--cpu-sample', '0', '--json'],
    { env, encoding: 'utf8' },
  );
  const wall = performance.now() - started;
  if (r.status === 3 || r.status === null) throw new Error(`mizual-alerts exited ${r.status}: ${r.stderr}`);
  return wall;
}

// 0. The app's statements: IN lists of every length on two columns, with and without NOT (SQLAlchemy
// makes one queryid per length).
const statements = Number(process.env.BENCH_STATEMENTS ?? 1000);
const workload = [];
for (let i = 0; i < statements; i++) {
  const n = Math.floor(i / 4) + 1;
  const column = i % 2 === 0 ? 'id' : 'n';
  const not = i % 4 < 2 ? '' : 'NOT ';
  workload.push(
    `SELECT count(*) FROM production.items WHERE ${column} ${not}IN (${Array.from({ length: n }, (_, k) => k + 1).join(',')});`,
  );
}
// Fed on stdin: the postgres user may not read our scratch directory.
const workloadText = `${workload.join('\n')}\n`;
const runWorkload = () => adminPsql(['-q', '-o', '/dev/null'], workloadText);

// 1. The statements one run sends, recorded through the collectors themselves.
const { openSession } = await import('../src/db/connection.ts');
const { parseDbUrl } = await import('../src/db/url.ts');
const { COLLECTORS } = await import('../src/db/report.ts');
const { emptyHistory } = await import('../src/db/history.ts');
const target = parseDbUrl(url);
const session = await openSession(target);
const recorded = [];
await session.transaction(async (pid) => {
  const ctx = {
    query: async (sql, params = []) => {
      recorded.push({ sql, params });
      return session.query(sql, params);
    },
    selfPid: pid,
    user: target.user,
    database: target.database,
    longSeconds: 30,
    windowMs: 3_600_000,
    nowMs: Date.now(),
    serverVersion: 0,
    history: emptyHistory(target.label),
    notes: [],
  };
  const report = { statements: { top: [] }, connections: null };
  for (const c of COLLECTORS) await c.scrape(ctx, report).catch(() => undefined);
});
await session.close();
const literal = (v) =>
  typeof v === 'number' ? String(v) : Array.isArray(v) ? `'{${v.join(',')}}'` : `'${String(v).replace(/'/g, "''")}'`;
const script =
  recorded
    .map(
      ({ sql, params }) => `/* psql-baseline */ ${sql.replace(/\$(\d+)/g, (_, i) => literal(params[Number(i) - 1]))};`,
    )
    .join('\n') + '\n';
const scriptFile = path.join(scratch, 'baseline.sql');
writeFileSync(scriptFile, script);

// 2. Alerts runs with the database, then the psql baseline, each measured by pg_stat_statements.
adminSql('SELECT pg_stat_statements_reset()');
runWorkload();
alertsRun(true); // the first run creates the state; not counted
runWorkload();
measured++;
await settle();
let before = measure('/* mizual-monitoring */');
for (let i = 0; i < runs; i++) alertsRun(true);
await settle();
let after = measure('/* mizual-monitoring */');
const ours = {
  ms: (after.ms - before.ms) / runs,
  calls: (after.calls - before.calls) / runs,
  sessions: (after.sessions - before.sessions) / runs,
};

// The same statements normalise to the same queryid whoever sends them: start afresh so psql's own
// text (and mark) is the one pg_stat_statements keeps.
adminSql('SELECT pg_stat_statements_reset()');
runWorkload();
measured++;
await settle();
before = measure('/* psql-baseline */');
const psqlWalls = [];
for (let i = 0; i < runs; i++) {
  const started = performance.now();
  execFileSync(
    path.join(h.PG_TEST_BIN, 'psql'),
    [
      '-X',
      '-q',
      '-o',
      '/dev/null',
      '-f',
      scriptFile,
      `postgresql://${h.PG_TEST_MON_USER}@127.0.0.1:${h.PG_TEST_PORT}/appdb?sslmode=require&application_name=psql-baseline`,
    ],
    {
      env: { ...process.env, PGPASSWORD: h.PG_TEST_MON_PASSWORD },
    },
  );
  psqlWalls.push(performance.now() - started);
}
await settle();
after = measure('/* psql-baseline */');
const psql = {
  ms: (after.ms - before.ms) / runs,
  calls: (after.calls - before.calls) / runs,
  sessions: (after.sessions - before.sessions) / runs,
};

// 3. Alerts wall time with and without the database, alternating.
const withDb = [];
const without = [];
for (let i = 0; i < runs; i++) {
  without.push(alertsRun(false));
  withDb.push(alertsRun(true));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const result = {
  runs,
  workloadStatements: statements,
  statementsPerRun: recorded.length,
  alertsDbTimeMs: Math.round(ours.ms * 100) / 100,
  alertsStatementsPerRun: ours.calls,
  alertsConnectionsPerRun: ours.sessions,
  psqlDbTimeMs: Math.round(psql.ms * 100) / 100,
  psqlStatementsPerRun: psql.calls,
  psqlConnectionsPerRun: psql.sessions,
  psqlWallMs: Math.round(median(psqlWalls)),
  alertsWallWithoutDbMs: Math.round(median(without)),
  alertsWallWithDbMs: Math.round(median(withDb)),
  databasePartWallMs: Math.round(median(withDb) - median(without)),
  targetMet: ours.ms <= 100 && ours.sessions <= 1,
};
console.table(result);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/db.json'), `${JSON.stringify(result, null, 2)}\n`);
rmSync(scratch, { recursive: true, force: true });
if (!result.targetMet) process.exitCode = 1;
