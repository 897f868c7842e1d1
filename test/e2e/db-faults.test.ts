// What goes wrong with a database, each told in one clear line while the rest of the dashboard still
// shows, with the right alert and exit code and no password anywhere: pg_stat_statements absent, a role
// without pg_monitor, verify-full against a self-signed certificate, a malformed URL, a server that
// accepts the connection and never answers, and the server stopped.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { scratchDir } from '../helpers/cli.js';
import {
  adminSession,
  assertNoSecret,
  filesUnder,
  readHarness,
  runWithDb,
  sqlalchemyUrl,
  until,
} from './db-helpers.js';

const h = readHarness();
const scratch = scratchDir('mizual-db-faults-');
after(() => scratch.cleanup());
let n = 0;

/** Run metrics (human and --json) and alerts with this URL in a fresh state directory. */
async function runAll(url: string, password: string) {
  const dir = path.join(scratch.dir, String(++n));
  const env = {
    DATABASE_URL: url,
    MIZUAL_STATE_DIR: path.join(dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
  };
  // In parallel: metrics only reads the state directory, and a silent server costs each run its 5 s.
  const [human, json, alerts] = await Promise.all([
    runWithDb('mizual-metrics', [], env),
    runWithDb('mizual-metrics', ['--json'], env),
    runWithDb('mizual-alerts', [], env),
  ]);
  const texts = [human, json, alerts].flatMap((r, i) => [
    { where: `run ${i} stdout`, text: r.stdout },
    { where: `run ${i} stderr`, text: r.stderr },
  ]);
  for (const f of filesUnder(dir)) texts.push({ where: f.file, text: f.text });
  assertNoSecret(password, texts);
  // The rest of the dashboard is there whatever the database does.
  assert.equal(human.exitCode, 0, human.stderr);
  assert.match(human.stdout, /^memory /m);
  const report = JSON.parse(json.stdout);
  assert.ok(report.memory.totalBytes > 0);
  const log = alerts.exitCode === 0 ? '' : readFileSync(env.MIZUAL_ALERT_LOG, 'utf8');
  return { human, db: report.db, alerts, log };
}

const dbLine = (stdout: string): string => stdout.split('\n').find((l) => l.startsWith('database')) ?? '';

test('pg_stat_statements absent: statements say how to enable it, the rest is shown, no alert', async () => {
  const r = await runAll(sqlalchemyUrl(h, { db: 'plaindb' }), h.monPassword);
  assert.equal(r.db.available, true);
  assert.equal(r.db.statements.available, false);
  assert.match(
    r.db.statements.reason,
    /pg_stat_statements is not installed in plaindb: .*CREATE EXTENSION pg_stat_statements;/,
  );
  assert.ok(r.db.sizeBytes > 0);
  assert.match(r.human.stdout, /^ {2}statements: pg_stat_statements is not installed/m);
  assert.equal(r.alerts.exitCode, 0, r.alerts.stdout);
});

test('a role without pg_monitor: other sessions are hidden, said in one line with the GRANT', async () => {
  const admin = await adminSession(h);
  try {
    // Another role's session: its state and query are hidden from a role without pg_read_all_stats.
    await admin.query('SELECT 1');
    const r = await runAll(sqlalchemyUrl(h, { user: h.nomonUser, password: h.nomonPassword }), h.nomonPassword);
    assert.equal(r.db.available, true, r.db.reason);
    assert.ok(
      r.db.notes.includes(`other roles' queries are hidden from ${h.nomonUser}: GRANT pg_monitor TO "${h.nomonUser}";`),
      JSON.stringify(r.db.notes),
    );
    assert.match(r.human.stdout, /GRANT pg_monitor TO "mizual_nomon";/);
    assert.equal(r.alerts.exitCode, 0, r.alerts.stdout);
  } finally {
    await admin.end();
  }
});

test('verify-full against the self-signed certificate is refused in one line; db:down is CRITICAL', async () => {
  const r = await runAll(sqlalchemyUrl(h, { query: 'sslmode=verify-full' }), h.monPassword);
  assert.equal(r.db.available, false);
  assert.equal(
    r.db.reason,
    `database 127.0.0.1:${h.port}/appdb: the server's certificate is not trusted with sslmode=verify-full (self-signed certificate); sslmode=require encrypts without verifying, or give sslrootcert=FILE`,
  );
  assert.equal(dbLine(r.human.stdout), `database: ${r.db.reason}`);
  assert.equal(r.alerts.exitCode, 2);
  assert.match(r.log, /CRITICAL db:down: database 127\.0\.0\.1:\d+\/appdb: the server's certificate is not trusted/);
});

test('sslmode=disable against a server that refuses plain TCP: authentication refused, one line', async () => {
  const r = await runAll(sqlalchemyUrl(h, { query: 'sslmode=disable' }), h.monPassword);
  assert.equal(r.db.available, false);
  assert.match(r.db.reason, /^database 127\.0\.0\.1:\d+\/appdb: authentication failed/);
  assert.doesNotMatch(r.db.reason, /mizual_mon/, 'the error names host and database only');
  assert.equal(r.alerts.exitCode, 2);
});

test('a malformed URL (an unencoded # in the password): one line naming the variable, never the URL', async () => {
  const password = 'se#cret@pw';
  const r = await runAll(`postgresql://mizual_mon:${password}@127.0.0.1:${h.port}/appdb`, password);
  assert.equal(r.db.available, false);
  assert.match(r.db.reason, /^DATABASE_URL is malformed/);
  assert.equal(r.alerts.exitCode, 2);
  assert.match(r.log, /CRITICAL db:down: DATABASE_URL is malformed/);
  const other = await runAll(`mysql://user:${password}@127.0.0.1/db`, password);
  assert.equal(other.db.reason, 'DATABASE_URL is not a Postgres URL (scheme mysql:)');
});

test('a server that accepts the connection and never answers: ends in bounded time, one line', async () => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const url = `postgresql://mizual_mon:${encodeURIComponent(h.monPassword)}@127.0.0.1:${port}/appdb?sslmode=require`;
    const r = await runAll(url, h.monPassword);
    assert.equal(r.db.available, false);
    assert.equal(r.db.reason, `database 127.0.0.1:${port}/appdb: no answer within 5s`);
    assert.equal(r.alerts.exitCode, 2);
    assert.match(r.log, /CRITICAL db:down: database 127\.0\.0\.1:\d+\/appdb: no answer within 5s/);
    assert.ok(sockets.length >= 3, 'each run did connect');
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test('the server stopped: db:down CRITICAL, then RESOLVED once it is back', async () => {
  const dir = path.join(scratch.dir, 'stopped');
  const env = {
    DATABASE_URL: sqlalchemyUrl(h),
    MIZUAL_STATE_DIR: path.join(dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
  };
  const pgctl = (...args: string[]) =>
    execFileSync('runuser', ['-u', 'postgres', '--', path.join(h.bin, 'pg_ctl'), '-D', h.data, ...args], {
      stdio: 'ignore',
    });
  pgctl('stop', '-m', 'fast', '-w');
  try {
    const human = await runWithDb('mizual-metrics', [], env);
    assert.equal(human.exitCode, 0);
    assert.equal(
      dbLine(human.stdout),
      `database: database 127.0.0.1:${h.port}/appdb: connection refused (is the server running?)`,
    );
    const down = await runWithDb('mizual-alerts', [], env);
    assert.equal(down.exitCode, 2);
    assert.match(
      readFileSync(env.MIZUAL_ALERT_LOG, 'utf8'),
      /CRITICAL db:down: database 127\.0\.0\.1:\d+\/appdb: connection refused/,
    );
  } finally {
    execFileSync('bash', [path.resolve('test/harness/postgres-up.sh')], { stdio: 'ignore' });
  }
  await until('the server to answer again', async () => {
    const a = await adminSession(h).catch(() => null);
    await a?.end();
    return a !== null;
  });
  const up = await runWithDb('mizual-alerts', [], env);
  assert.equal(up.exitCode, 0, up.stdout);
  assert.match(readFileSync(env.MIZUAL_ALERT_LOG, 'utf8'), /RESOLVED db:down: appdb answers/);
  assertNoSecret(h.monPassword, [
    { where: 'alerts stdout', text: up.stdout },
    ...filesUnder(dir).map((f) => ({ where: f.file, text: f.text })),
  ]);
});
