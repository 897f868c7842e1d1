// The database service's pure parts: the URL as libpq reads it, the query text as we show it, the
// snapshots alerts runs keep (bounded) and the windows and regressions computed from them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dbObservations } from '../../src/alerts/checks/database.js';
import { scrub, toDbError } from '../../src/db/connection.js';
import {
  addSizeSample,
  addSnapshot,
  emptyHistory,
  judgeRegressions,
  growthPerDay,
  snapshotViews,
  windowBase,
  windowCounters,
  type Counters,
} from '../../src/db/history.js';
import { unavailableDb } from '../../src/db/report.js';
import { maskQuery } from '../../src/db/sql-text.js';
import { configuredDbUrl, parseDbUrl } from '../../src/db/url.js';

const HOUR = 3_600_000;

describe('database URL', () => {
  it('reads SQLAlchemy URLs with a percent-encoded password, options and sslmode', () => {
    const t = parseDbUrl(
      'postgresql+psycopg2://app%40prod:p%40ss%3Aw%2Frd%23%3F%25@db.example.com:6543/main?sslmode=require&options=-csearch_path%3Dproduction',
    );
    assert.equal(t.user, 'app@prod');
    assert.equal(t.password, 'p@ss:w/rd#?%');
    assert.equal(t.host, 'db.example.com');
    assert.equal(t.port, 6543);
    assert.equal(t.database, 'main');
    assert.equal(t.options, '-csearch_path=production');
    assert.equal(t.label, 'db.example.com:6543/main');
    assert.equal(t.sslMode, 'require');
  });

  it('gives sslmode libpq meaning: require encrypts without verifying, verify-full verifies the host', () => {
    const tls = (mode: string) => parseDbUrl(`postgres://u:p@db.example.com/d?sslmode=${mode}`).tls;
    assert.equal(tls('disable'), undefined);
    assert.equal(tls('require')?.rejectUnauthorized, false);
    assert.equal(tls('prefer')?.rejectUnauthorized, false);
    assert.equal(tls('verify-full')?.rejectUnauthorized, true);
    assert.equal(tls('verify-full')?.checkServerIdentity, undefined, "Node's own host check");
    assert.equal(tls('verify-ca')?.rejectUnauthorized, true);
    assert.equal(typeof tls('verify-ca')?.checkServerIdentity, 'function', 'verify-ca does not check the host');
    assert.equal(parseDbUrl('postgres://u:p@h/d').sslMode, 'prefer', "libpq's default");
    assert.equal(parseDbUrl('postgresql+asyncpg://u:p@h/d?ssl=require').sslMode, 'require');
    assert.equal(parseDbUrl('postgres://u:p@/d?host=/run/postgresql').sslMode, 'disable');
  });

  it('reads Unix sockets, several hosts and sslrootcert=system as libpq 16 does', () => {
    const sock = parseDbUrl('postgresql://app@/db?host=/run/pg');
    assert.deepEqual(
      [sock.host, sock.port, sock.database, sock.sslMode, sock.label],
      ['/run/pg', 5432, 'db', 'disable', '/run/pg/db'],
    );
    const encoded = parseDbUrl('postgresql://%2Fvar%2Frun%2Fpostgresql:5433/db?user=app');
    assert.deepEqual([encoded.host, encoded.port, encoded.user], ['/var/run/postgresql', 5433, 'app']);
    const bare = parseDbUrl('postgresql:///db?user=app');
    assert.equal(bare.host, '/var/run/postgresql');
    const several = parseDbUrl('postgresql://u:p%40ss@h1:5433,[::1]:5434,h3/db?sslmode=require');
    assert.deepEqual(several.hosts, [
      { host: 'h1', port: 5433 },
      { host: '::1', port: 5434 },
      { host: 'h3', port: 5432 },
    ]);
    assert.equal(several.password, 'p@ss');
    assert.equal(several.label, 'h1:5433,[::1]:5434,h3:5432/db');
    const params = parseDbUrl('postgresql://u@/db?host=a,b&port=1,2');
    assert.deepEqual(params.hosts, [
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
    ]);
    const system = parseDbUrl('postgresql://u@db.example.com/db?sslrootcert=system');
    assert.equal(system.sslMode, 'verify-full');
    assert.equal(system.tls?.rejectUnauthorized, true);
    assert.equal(system.tls?.ca, undefined, "the system's roots");
    assert.throws(() => parseDbUrl('postgresql://u@h/db?sslrootcert=system&sslmode=require'), /verify-full/);
  });

  it('refuses what it cannot read without ever quoting the URL', () => {
    const bad = [
      'mysql://u:secret@h/d',
      'postgresql://u:se#cret@h:5432/d',
      'not a url secret',
      'postgres://u:secret@h/d?sslmode=sometimes',
      'postgres://:secret@h/d',
    ];
    for (const url of bad) {
      assert.throws(
        () => parseDbUrl(url),
        (err: Error) => !err.message.includes('secret') && err.message.startsWith('DATABASE_URL'),
      );
    }
  });

  it('MIZUAL_DATABASE_URL wins over DATABASE_URL; neither set is null', () => {
    const env: Record<string, string> = { DATABASE_URL: 'postgres://a@h/d', MIZUAL_DATABASE_URL: 'postgres://b@h/d' };
    assert.equal(configuredDbUrl((n) => env[n])?.variable, 'MIZUAL_DATABASE_URL');
    assert.equal(configuredDbUrl((n) => (n === 'DATABASE_URL' ? env[n] : undefined))?.url, 'postgres://a@h/d');
    assert.equal(
      configuredDbUrl(() => undefined),
      null,
    );
  });

  it('driver errors are told naming host and database only', () => {
    const t = parseDbUrl('postgres://bob:hunter2@db:5432/app');
    const e = toDbError(
      Object.assign(new Error('password authentication failed for user "bob"'), { code: '28P01' }),
      t,
    );
    assert.equal(e.message, 'database db:5432/app: authentication failed (check the user and password in the URL)');
    const other = toDbError(new Error('odd failure for "bob" at postgres://bob:hunter2@db/app with hunter2'), t);
    assert.doesNotMatch(other.message, /hunter2|"bob"/);
    assert.equal(scrub('x hunter2 y', t), 'x *** y');
  });
});

describe('query text', () => {
  it('replaces literals with ? and keeps the first 200 characters', () => {
    assert.equal(
      maskQuery(`SELECT * FROM t WHERE name = 'O''Brien' AND id IN (1, 2.5, -3) AND x = $tag$a$tag$ AND t2.c1 = 1e5`),
      'SELECT * FROM t WHERE name = ? AND id IN (?, ?, ?) AND x = ? AND t2.c1 = ?',
    );
    assert.equal(maskQuery('SELECT $1, col2 FROM  t\n  LIMIT 10'), 'SELECT $1, col2 FROM t LIMIT ?');
    assert.equal(maskQuery(`SELECT '${'x'.repeat(500)}', ${'a, '.repeat(200)}b`)?.length, 200);
  });
});

describe('kept snapshots', () => {
  const counters = (entries: [string, Counters][]) => new Map(entries);

  it('stay bounded: every snapshot of 2 hours, then one an hour, none past 27 hours', () => {
    let h = emptyHistory('h:5432/d');
    const start = Date.UTC(2026, 0, 1);
    for (let t = 0; t <= 48 * HOUR; t += 5 * 60_000) h = addSnapshot(h, counters([['1', [t, t, t]]]), start + t);
    assert.ok(h.statements.length <= 24 + 1 + 26, String(h.statements.length));
    const now = start + 48 * HOUR;
    assert.ok(h.statements.every((s) => now - s.at <= 27 * HOUR));
    assert.equal(h.statements.filter((s) => now - s.at <= 2 * HOUR).length, 25);
  });

  it('keep every statement compactly: the oldest in full, later ones only what moved', () => {
    let h = emptyHistory('t');
    const many = (t: number, busy: number) =>
      counters(Array.from({ length: 5000 }, (_, i): [string, Counters] => [`q${i}`, [i < busy ? t : 1, i, 1]]));
    for (let t = 0; t < 24; t++) h = addSnapshot(h, many(t + 2, 10), t * 5 * 60_000);
    assert.equal(Object.keys(h.statements[0]!.rows).length, 5000, 'the oldest holds every statement');
    assert.ok(
      h.statements.slice(1).every((s) => Object.keys(s.rows).length === 10),
      'the others only the busy ones',
    );
    const views = snapshotViews(h);
    assert.equal(views.at(-1)?.rows.size, 5000);
    assert.deepEqual(views.at(-1)?.rows.get('q3'), [25, 3, 1]);
    assert.deepEqual(views.at(-1)?.rows.get('q4000'), [1, 4000, 1]);
    assert.ok(JSON.stringify(h).length < 400_000, String(JSON.stringify(h).length));
  });

  it('a window is counted from the snapshot at its start, a statement new in it is there, a reset starts anew', () => {
    let h = emptyHistory('t');
    const e1 = { reset: '2026-01-01T00:00:00.000Z', dealloc: 0 };
    h = addSnapshot(
      h,
      counters([
        ['a', [100, 1000, 100]],
        ['b', [10, 50, 10]],
      ]),
      0,
      e1,
    );
    // 250 statements: each window figure is still there, also those never seen at the start.
    const later = counters([
      ['a', [150, 1500, 150]],
      ['b', [20, 100, 20]],
      ...Array.from({ length: 250 }, (_, i): [string, Counters] => [`n${i}`, [1, 1, 1]]),
    ]);
    h = addSnapshot(h, later, 30 * 60_000, e1);
    const now = HOUR;
    const base = windowBase(h, now, HOUR);
    assert.equal(base?.at, 0);
    const d = windowCounters(
      counters([
        ['a', [160, 2000, 160]],
        ['b', [3, 9, 3]],
        ['c', [5, 120_000, 5]],
      ]),
      base!,
      e1,
    );
    assert.deepEqual(d.get('a'), [60, 1000, 60]);
    assert.deepEqual(d.get('b'), [3, 9, 3], 'evicted and back since: what came after');
    assert.deepEqual(d.get('c'), [5, 120_000, 5], 'new in the window');
    const afterReset = windowCounters(counters([['a', [120, 1200, 120]]]), base!, {
      reset: '2026-01-01T00:40:00.000Z',
      dealloc: 0,
    });
    assert.deepEqual(afterReset.get('a'), [120, 1200, 120], 'after a reset: everything since it');
  });

  const judged = (v: ReturnType<typeof judgeRegressions>) => (v.judged ? v.found.map((r) => r.queryid) : v.why);

  it('a statement twice as slow over the last hour, over the floor (20 ms, 100 calls), is a regression', () => {
    const h = emptyHistory('t');
    const now = 30 * HOUR;
    const e = { reset: null, dealloc: null };
    h.statements = [
      {
        at: now - 25 * HOUR,
        ...e,
        full: true,
        rows: { slow: [0, 0, 0], same: [0, 0, 0], few: [0, 0, 0], fast: [0, 0, 0] },
      },
      {
        at: now - HOUR,
        ...e,
        full: false,
        rows: { slow: [1000, 15_000, 0], same: [1000, 15_000, 0], few: [1000, 15_000, 0], fast: [1000, 20, 0] },
      },
    ];
    const current = counters([
      ['slow', [1200, 21_000, 0]],
      ['same', [1200, 18_500, 0]],
      ['few', [1060, 17_000, 0]],
      ['fast', [2000, 70, 0]],
    ]);
    const found = judgeRegressions(h, current, now);
    assert.deepEqual(judged(found), ['slow']);
    assert.equal(found.judged && found.found[0]?.recentMeanSeconds, 0.03);
    assert.equal(found.judged && found.found[0]?.baselineMeanSeconds, 0.015);
    assert.deepEqual(judged(judgeRegressions(h, current, now, e, { minMeanMs: 40, minCalls: 100 })), []);
    assert.equal(judgeRegressions({ ...h, statements: h.statements.slice(1) }, current, now).judged, false);
  });

  it('0.02 ms becoming 0.05 ms is not a regression (under the floor)', () => {
    const h = emptyHistory('t');
    const now = 30 * HOUR;
    const e = { reset: null, dealloc: null };
    h.statements = [
      { at: now - 25 * HOUR, ...e, full: true, rows: { q: [0, 0, 0] } },
      { at: now - HOUR, ...e, full: false, rows: { q: [10_000, 200, 0] } },
    ];
    assert.deepEqual(judged(judgeRegressions(h, counters([['q', [20_000, 700, 0]]]), now)), []);
  });

  it('a reset then regrowth is no regression: not judged across stats_reset', () => {
    const h = emptyHistory('t');
    const now = 30 * HOUR;
    const before = { reset: '2026-01-01T00:00:00.000Z', dealloc: 0 };
    h.statements = [
      { at: now - 25 * HOUR, ...before, full: true, rows: { q: [1000, 10_000, 0] } },
      { at: now - HOUR, ...before, full: false, rows: { q: [2000, 20_000, 0] } },
    ];
    // Reset 30 minutes ago, then 2100 calls at the same 10 ms: the counters passed the old ones.
    const current = counters([['q', [2100, 80_000, 0]]]);
    const verdict = judgeRegressions(h, current, now, { reset: new Date(now - HOUR / 2).toISOString(), dealloc: 0 });
    assert.equal(verdict.judged, false);
    assert.match(String(judged(verdict)), /reset/);
  });
  it('growth per day from the size samples, none before 6 hours of them', () => {
    let h = emptyHistory('t');
    for (let t = 0; t <= 5 * HOUR; t += HOUR) h = addSizeSample(h, 1e9 + t / 1000, t);
    assert.equal(growthPerDay(h, 1e9 + 5.5 * 3600, 5.5 * HOUR), null);
    for (let t = 6 * HOUR; t <= 12 * HOUR; t += HOUR) h = addSizeSample(h, 1e9 + t / 1000, t);
    assert.equal(growthPerDay(h, 1e9 + 12 * 3600, 12 * HOUR), 86_400);
  });
});

describe('database checks', () => {
  it('no connection is db:down CRITICAL and the others unknown (their state kept)', () => {
    const obs = dbObservations(unavailableDb('database h:5432/d: connection refused', HOUR), {
      longMs: 30_000,
      connectionsPercent: 80,
    });
    assert.equal(obs[0]?.check, 'db:down');
    assert.equal(obs[0]?.failing, true);
    assert.ok(obs.slice(1).every((o) => o.unknown));
  });

  const up = (extra: Partial<ReturnType<typeof unavailableDb>>) => ({
    ...unavailableDb('', HOUR),
    available: true,
    reason: null,
    ...extra,
  });
  const limits = { longMs: 30_000, connectionsPercent: 80, slotBytes: 1024 ** 3 };

  it('while the database is down, the named checks raised before stay as they are (UNKNOWN)', () => {
    const previous = ['db:regression:42', 'db:sequence:public.ids', 'db:slot:cdc', 'cpu'];
    const obs = dbObservations(unavailableDb('database h:5432/d: connection refused', HOUR), limits, previous);
    for (const check of previous.slice(0, 3)) {
      assert.equal(obs.find((o) => o.check === check)?.unknown, true, check);
    }
    assert.equal(
      obs.find((o) => o.check === 'cpu'),
      undefined,
    );
  });

  it('sequences warn at 90% of their column, inactive slots past --db-slot-bytes', () => {
    const obs = dbObservations(
      up({
        sequences: [
          { name: 'public.ids', table: 'public.orders', column: 'id', percent: 93.13 },
          { name: 'public.other', table: null, column: null, percent: 60 },
        ],
        slots: [
          { name: 'cdc', type: 'logical', active: false, retainedBytes: 2 * 1024 ** 3 },
          { name: 'replica', type: 'physical', active: true, retainedBytes: 5 * 1024 ** 3 },
          { name: 'small', type: 'logical', active: false, retainedBytes: 1024 },
        ],
      }),
      limits,
    );
    const failing = (check: string) => obs.find((o) => o.check === check)?.failing;
    assert.equal(failing('db:sequence:public.ids'), true);
    assert.match(obs.find((o) => o.check === 'db:sequence:public.ids')!.message, /feeds public\.orders\.id/);
    assert.equal(failing('db:sequence:public.other'), false);
    assert.equal(failing('db:slot:cdc'), true);
    assert.equal(failing('db:slot:replica'), false, 'an active slot is the replica working');
    assert.equal(failing('db:slot:small'), false);
  });

  it('at most 5 regressions are raised, the rest counted; unjudged ones are held', () => {
    const r = (id: string) => ({
      queryid: id,
      query: 'SELECT ?',
      recentMeanSeconds: 0.05,
      baselineMeanSeconds: 0.01,
      recentCalls: 200,
      baselineCalls: 200,
    });
    const obs = dbObservations(
      up({ regressions: ['1', '2', '3', '4', '5'].map(r), regressionsNotRaised: 2 }),
      limits,
    ).filter((o) => o.check.startsWith('db:regression:'));
    assert.equal(obs.length, 5);
    assert.ok(obs.every((o) => o.message.includes('and 2 more statements regressed, not raised')));
    const held = dbObservations(up({ regressionsUnjudged: 'the statistics were reset' }), limits, ['db:regression:9']);
    assert.equal(held.find((o) => o.check === 'db:regression:9')?.unknown, true);
  });

  it('wraparound warns at 50% and is critical at 75%', () => {
    const at = (percent: number) => {
      const db = { ...unavailableDb('', HOUR), available: true, reason: null, wraparound: { ageXids: 1, percent } };
      return dbObservations(db, { longMs: 30_000, connectionsPercent: 80 }).find((o) => o.check === 'db:wraparound');
    };
    assert.equal(at(49)?.failing, false);
    assert.deepEqual([at(50)?.failing, at(50)?.severity], [true, 'warning']);
    assert.deepEqual([at(80)?.failing, at(80)?.severity], [true, 'critical']);
  });
});
