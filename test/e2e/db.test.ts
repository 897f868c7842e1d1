// The database figures against a real Postgres 15 (test/harness/postgres-up.sh): TLS with a self-signed
// certificate, pg_stat_statements, a role with pg_monitor only, reached with a SQLAlchemy URL whose
// password needs percent-encoding. A workload with known answers shows in --json and in the alerts,
// then resolves; nothing anywhere carries the password.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { ROOT, scratchDir } from '../helpers/cli.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import {
  adminSession,
  assertNoSecret,
  filesUnder,
  pidOf,
  readHarness,
  runWithDb,
  sqlalchemyUrl,
  until,
} from './db-helpers.js';

const h = readHarness();
const scratch = scratchDir('mizual-db-');
const stateDir = path.join(scratch.dir, 'state');
const alertLog = path.join(scratch.dir, 'alerts.log');
const env: Record<string, string> = {
  DATABASE_URL: sqlalchemyUrl(h),
  MIZUAL_STATE_DIR: stateDir,
  MIZUAL_ALERT_LOG: alertLog,
};
let webhook: WebhookReceiver;
const outputs: { where: string; text: string }[] = [];
const clients: pg.Client[] = [];

async function session(): Promise<pg.Client> {
  const c = await adminSession(h);
  clients.push(c);
  return c;
}

async function run(tool: 'mizual-metrics' | 'mizual-alerts', args: string[]) {
  const r = await runWithDb(tool, args, env);
  outputs.push(
    { where: `${tool} ${args.join(' ')} stdout`, text: r.stdout },
    { where: `${tool} stderr`, text: r.stderr },
  );
  return r;
}

let admin: pg.Client;
/** End the workload sessions of this or an earlier (failed) run, so each run starts clean. */
async function endWorkload(): Promise<void> {
  await admin.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'workload' AND pid <> pg_backend_pid()`,
  );
}
before(async () => {
  webhook = await startWebhookReceiver();
  env.MIZUAL_ALERT_WEBHOOK_URL = webhook.url;
  admin = await session();
  await endWorkload();
});
after(async () => {
  webhook.close();
  await endWorkload().catch(() => undefined);
  for (const c of clients) await c.end().catch(() => undefined);
  scratch.cleanup();
});

test('a workload with known answers shows in --json and the alerts with the right pids, then resolves', async () => {
  await admin.query('SELECT pg_stat_statements_reset()');
  const deadlocksBefore = Number(
    (await admin.query(`SELECT deadlocks FROM pg_stat_database WHERE datname = 'appdb'`)).rows[0].deadlocks,
  );
  // The first alerts run keeps the snapshot the window starts from.
  const first = await run('mizual-alerts', ['--db-long', '1s']);
  assert.equal(first.exitCode, 0, first.stdout + first.stderr);

  // Many fast statements and a known number of slow ones.
  for (let i = 1; i <= 200; i++) await admin.query('SELECT n FROM production.items WHERE id = $1', [i]);
  // Their true mean: each call as the client timed it (pg_sleep oversleeps on a busy machine).
  let slowSeconds = 0;
  for (let i = 0; i < 4; i++) {
    const started = performance.now();
    await admin.query('SELECT pg_sleep($1)', [0.25]);
    slowSeconds += (performance.now() - started) / 1000;
  }
  const slowMean = slowSeconds / 4;

  // A long-running query, a session idle in a transaction, and an update blocked by it.
  const longSession = await session();
  const longPid = await pidOf(longSession);
  const longQuery = longSession.query('SELECT pg_sleep(60)').catch(() => undefined);
  const idle = await session();
  const idlePid = await pidOf(idle);
  await idle.query('BEGIN');
  await idle.query(`UPDATE production.items SET n = n WHERE id = 7`);
  const blocked = await session();
  const blockedPid = await pidOf(blocked);
  const blockedUpdate = blocked.query(`UPDATE production.items SET n = n + 1 WHERE id = 7`).catch((e: Error) => e);

  // A deadlock: each of two sessions waits for the row the other holds.
  const [d1, d2] = [await session(), await session()];
  await d1.query('BEGIN');
  await d2.query('BEGIN');
  await d1.query('UPDATE production.items SET n = n WHERE id = 10');
  await d2.query('UPDATE production.items SET n = n WHERE id = 11');
  const results = await Promise.allSettled([
    d1.query('UPDATE production.items SET n = n WHERE id = 11'),
    d2.query('UPDATE production.items SET n = n WHERE id = 10'),
  ]);
  assert.equal(results.filter((r) => r.status === 'rejected').length, 1, 'one of the two is the deadlock victim');
  await d1.query('ROLLBACK');
  await d2.query('ROLLBACK');
  // An idle backend may hold its statistics for up to 10 s; one that exits flushes them.
  await d1.end();
  await d2.end();
  let deadlocks = deadlocksBefore;
  await until('the deadlock to reach pg_stat_database', async () => {
    const r = await admin.query(`SELECT deadlocks FROM pg_stat_database WHERE datname = 'appdb'`);
    deadlocks = Number(r.rows[0].deadlocks);
    return deadlocks > deadlocksBefore;
  });
  await until('the long query and the lock wait to pass 1s', async () => {
    const r = await admin.query(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ANY($1) AND clock_timestamp() - query_start > interval '1.5s'`,
      [[longPid, blockedPid]],
    );
    return Number(r.rows[0].n) === 2;
  });
  await new Promise((r) => setTimeout(r, 1000));

  const metrics = await run('mizual-metrics', ['--json', '--db-long', '1s']);
  assert.equal(metrics.exitCode, 0, metrics.stderr);
  const db = JSON.parse(metrics.stdout).db;
  assert.equal(db.available, true, db.reason);
  assert.equal(db.reason, null);
  assert.match(db.server.version, /^15\./);
  const long = db.longQueries.find((q: { pid: number }) => q.pid === longPid);
  assert.ok(long, `long query pid ${longPid} in ${JSON.stringify(db.longQueries)}`);
  assert.equal(long.state, 'active');
  assert.equal(long.user, h.admin);
  assert.equal(long.application, 'workload');
  assert.equal(long.query, 'SELECT pg_sleep(?)', 'literals replaced by ?');
  assert.ok(long.seconds >= 1);
  const idleRow = db.longQueries.find((q: { pid: number }) => q.pid === idlePid);
  assert.equal(idleRow?.state, 'idle in transaction');
  assert.equal(idleRow?.query, 'UPDATE production.items SET n = n WHERE id = ?');
  const blockedRow = db.blocked.find((b: { pid: number }) => b.pid === blockedPid);
  assert.deepEqual(blockedRow?.blockedBy, [idlePid]);
  assert.equal(db.connections.byState.waiting, 1);
  assert.ok(db.connections.byState['idle in transaction'] >= 1);
  assert.ok(db.connections.byState.active >= 1);
  assert.equal(db.connections.max, 40);
  assert.equal(db.connections.reserved, 3);
  assert.equal(db.deadlocks, deadlocks);
  assert.ok(db.oldestTransactionSeconds >= 1);

  // Statements over the window since the first alerts run, our own left out.
  assert.equal(db.statements.available, true, db.statements.reason);
  assert.notEqual(db.statements.window, 'since reset');
  const top = db.statements.top as { query: string; calls: number; meanSeconds: number; totalSeconds: number }[];
  const slow = top.find((s) => s.query === 'SELECT pg_sleep($1)');
  assert.equal(slow?.calls, 4);
  assert.ok(slow!.meanSeconds >= 0.25, `mean ${slow!.meanSeconds}: pg_sleep(0.25) lasts at least that`);
  assert.ok(
    Math.abs(slow!.meanSeconds - slowMean) <= 0.1 * slowMean,
    `mean ${slow!.meanSeconds} within 10% of ${slowMean} (the client's timing)`,
  );
  const fast = top.find((s) => s.query === 'SELECT n FROM production.items WHERE id = $1');
  assert.equal(fast?.calls, 200);
  assert.ok(!top.some((s) => s.query.includes('mizual-monitoring')), 'our own statements are left out');
  assert.ok(db.schemas.some((s: { schema: string }) => s.schema === 'production'));
  assert.ok(db.tables.some((t: { schema: string; table: string }) => `${t.schema}.${t.table}` === 'production.items'));

  // The human dashboard and the full report show the same things.
  const dashboard = await run('mizual-metrics', ['--db-long', '1s']);
  assert.match(dashboard.stdout, /^database appdb/m);
  // The blocked update is itself an active query running past --db-long.
  assert.match(dashboard.stdout, /long queries 2, idle in transaction 1, blocked 1/);
  const full = await run('mizual-metrics', ['--db', '--db-long', '1s']);
  assert.match(full.stdout, new RegExp(`^${longPid}\\s+${h.admin}\\s+workload\\s+active`, 'm'));
  assert.match(full.stdout, new RegExp(`^${blockedPid}\\s+${idlePid}\\s`, 'm'));

  const raised = await run('mizual-alerts', ['--db-long', '1s']);
  assert.equal(raised.exitCode, 1, raised.stdout);
  const log = readFileSync(alertLog, 'utf8');
  assert.match(
    log,
    new RegExp(`WARNING db:long-query: 2 queries running past 1s: pid ${longPid} .*pid ${blockedPid} `),
  );
  assert.match(
    log,
    new RegExp(`WARNING db:idle-in-transaction: 1 session idle in a transaction past 1s: pid ${idlePid} `),
  );
  assert.match(
    log,
    new RegExp(`WARNING db:blocked: 1 session waiting on a lock past 1s: pid ${blockedPid} .*blocked by ${idlePid}`),
  );

  // Resolve: the long query cancelled, the transaction committed (which frees the update).
  await admin.query('SELECT pg_cancel_backend($1)', [longPid]);
  await longQuery;
  await idle.query('COMMIT');
  await blockedUpdate;
  const resolved = await run('mizual-alerts', ['--db-long', '1s']);
  assert.equal(resolved.exitCode, 0, resolved.stdout);
  const after = readFileSync(alertLog, 'utf8').slice(log.length);
  for (const check of ['db:long-query', 'db:idle-in-transaction', 'db:blocked']) {
    assert.match(after, new RegExp(`RESOLVED ${check}: `));
  }

  // The prometheus output is valid for promtool.
  const prom = await run('mizual-metrics', ['--prometheus']);
  assert.match(prom.stdout, /^mizual_db_up 1$/m);
  assert.match(prom.stdout, /^mizual_db_statement_calls_total\{queryid="-?\d+"\} \d+$/m);
  const { execa } = await import('execa');
  const check = await execa('promtool', ['check', 'metrics'], { input: `${prom.stdout}\n`, reject: false });
  assert.equal(check.exitCode, 0, check.stdout + check.stderr);

  // The same changes went to the webhook.
  const sent = JSON.stringify(webhook.bodies);
  for (const check of ['db:long-query', 'db:idle-in-transaction', 'db:blocked']) assert.ok(sent.includes(check), check);
  outputs.push({ where: 'webhook bodies', text: sent });
  for (const r of outputs.filter((o) => o.where.endsWith('stderr'))) assert.equal(r.text, '', r.where);

  const stateFiles = filesUnder(stateDir);
  const kept = stateFiles.find((f) => f.file.endsWith('db-state.json'));
  assert.ok(kept, 'the snapshots are kept');
  assert.equal(statSync(kept.file).mode & 0o777, 0o600);
  assertNoSecret(h.monPassword, [
    ...outputs,
    ...stateFiles.map((f) => ({ where: f.file, text: f.text })),
    { where: 'alert log', text: readFileSync(alertLog, 'utf8') },
  ]);
});

test('a statement twice as slow over the last hour as the day before, over the floor, raises db:regression:<queryid>', async () => {
  // Three alerts runs as cron would make them a day apart (faketime moves only the tool's clock); the
  // statement's calls happen on the real server in between.
  const runs = alertsIn('regression');
  const regEnv = runs.env;
  const alertsAt = async (offset: string | null) => {
    const r = await runs.at(offset);
    return { exitCode: r.exitCode, report: { checks: r.checks } };
  };
  const probe = (seconds: number) => admin.query('SELECT pg_sleep($1) FROM (SELECT 1) AS regression_probe', [seconds]);
  await alertsAt('-25h');
  for (let i = 0; i < 100; i++) await probe(0.01);
  await alertsAt('-1h');
  // Over the floor (a mean of 20 ms and 100 calls in the hour) and at least twice as slow.
  for (let i = 0; i < 100; i++) await probe(0.025);
  const now = await alertsAt(null);
  const regression = now.report.checks.find((c) => c.check.startsWith('db:regression:'));
  assert.ok(regression, JSON.stringify(now.report.checks.map((c) => c.check)));
  assert.equal(regression.status, 'warning');
  assert.match(
    regression.message,
    /over the last hour \(100 calls\), .* over the 24h before \(100 calls\): SELECT pg_sleep\(\$1\) FROM \(SELECT \$2\) AS regression_probe/,
  );
  const queryid = regression.check.slice('db:regression:'.length);
  const [row] = (
    await admin.query(`SELECT queryid::text AS q FROM pg_stat_statements WHERE query LIKE '%regression_probe%'`)
  ).rows;
  assert.equal(queryid, row.q);
  assert.equal(now.exitCode, 1);
  assert.match(
    readFileSync(regEnv.MIZUAL_ALERT_LOG!, 'utf8'),
    new RegExp(`WARNING db:regression:${queryid}: statement ${queryid} mean`),
  );

  // The database down (a port nobody listens on): the regression stays as it is, never RESOLVED.
  const logBefore = readFileSync(regEnv.MIZUAL_ALERT_LOG!, 'utf8');
  const realUrl = regEnv.DATABASE_URL!;
  regEnv.DATABASE_URL = realUrl.replace(`:${h.port}/`, `:${await closedPort()}/`);
  const down = await alertsAt(null);
  regEnv.DATABASE_URL = realUrl;
  assert.equal(down.report.checks.find((c) => c.check === 'db:down')?.status, 'critical');
  const held = down.report.checks.find((c) => c.check === regression.check);
  assert.equal(held?.status, 'unknown', JSON.stringify(held));
  assert.doesNotMatch(readFileSync(regEnv.MIZUAL_ALERT_LOG!, 'utf8').slice(logBefore.length), /RESOLVED db:regression/);
});

/** A port on 127.0.0.1 nobody listens on. */
async function closedPort(): Promise<number> {
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** mizual-alerts --json as cron runs it, its clock moved by `offset` (faketime), in its own state. */
function alertsIn(name: string) {
  const dir = path.join(scratch.dir, name);
  const runEnv: Record<string, string> = {
    DATABASE_URL: env.DATABASE_URL!,
    MIZUAL_STATE_DIR: path.join(dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
  };
  const at = async (offset: string | null, extra: string[] = []) => {
    const args = ['--no-docker', '--cpu-sample', '0', '--cpu', '100', '--memory', '100', '--disk', '100', '--json'];
    const bin = path.join(ROOT, 'bin', 'mizual-alerts.js');
    const cmd = [process.execPath, bin, ...args, ...extra];
    const { execa } = await import('execa');
    const r = await execa(offset ? 'faketime' : cmd[0]!, offset ? ['-f', offset, ...cmd] : cmd.slice(1), {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...runEnv },
      extendEnv: false,
      reject: false,
    });
    outputs.push(
      { where: `${name} ${offset} stdout`, text: String(r.stdout) },
      { where: `${name} ${offset} stderr`, text: String(r.stderr) },
    );
    const report = JSON.parse(String(r.stdout)) as { checks: { check: string; status: string; message: string }[] };
    return { exitCode: r.exitCode, checks: report.checks };
  };
  return { env: runEnv, at };
}

/** The db:regression:* checks of one run. */
const regressions = (checks: { check: string; status: string }[]) =>
  checks.filter((c) => c.check.startsWith('db:regression:'));

test('0.02 ms becoming 0.05 ms is no regression: under the floor of 20 ms and 100 calls', async () => {
  const runs = alertsIn('floor');
  const alertsAt = async (offset: string | null, extra: string[] = []) =>
    regressions((await runs.at(offset, extra)).checks);
  const tiny = (n: number) => admin.query('SELECT count(*) FROM generate_series(1, $1) AS floor_probe', [n]);
  await alertsAt('-25h');
  for (let i = 0; i < 150; i++) await tiny(10);
  await alertsAt('-1h');
  for (let i = 0; i < 150; i++) await tiny(2000);
  const [row] = (
    await admin.query(
      `SELECT queryid::text AS q, mean_exec_time AS m FROM pg_stat_statements WHERE query LIKE '%floor_probe%'`,
    )
  ).rows;
  assert.ok(row.m < 20, `the probe's mean ${row.m} ms is under the floor`);
  // Judged with no floor, the same figures are a regression: the floor alone keeps it quiet.
  const noFloor = await alertsAt(null, ['--dry-run', '--db-regression-ms', '0.0001', '--db-regression-calls', '100']);
  assert.ok(
    noFloor.some((c) => c.check === `db:regression:${row.q}` && c.status === 'warning'),
    JSON.stringify(noFloor),
  );
  const raised = await alertsAt(null);
  assert.deepEqual(
    raised.filter((c) => c.check === `db:regression:${row.q}`),
    [],
  );
});

test('a statistics reset then regrowth raises nothing: regressions are judged across no reset', async () => {
  const runs = alertsIn('reset');
  const alertsAt = async (offset: string | null, extra: string[] = []) =>
    regressions((await runs.at(offset, extra)).checks);
  const probe = (s: number) => admin.query('SELECT pg_sleep($1) FROM (SELECT 1) AS reset_probe', [s]);
  await alertsAt('-25h');
  for (let i = 0; i < 300; i++) await probe(0.01);
  await alertsAt('-1h');
  await admin.query('SELECT pg_stat_statements_reset()');
  // 400 calls at 15 ms since the reset: counted against the 300 before it, the hour would read 100
  // calls at 30 ms, "twice" the 10 ms of the day before.
  for (let i = 0; i < 400; i++) await probe(0.015);
  const checks = await alertsAt(null, ['--db-regression-ms', '1']);
  assert.deepEqual(checks, []);
});
