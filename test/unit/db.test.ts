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
  findRegressions,
  growthPerDay,
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

  it('refuses what it cannot read without ever quoting the URL', () => {
    const bad = [
      'mysql://u:secret@h/d',
      'postgresql://u:se#cret@h:5432/d',
      'not a url secret',
      'postgres://u:secret@h/d?sslmode=sometimes',
      'postgres://u:secret@h1,h2/d',
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

  it('a window is counted from the snapshot at its start, and a reset does not go negative', () => {
    let h = emptyHistory('t');
    h = addSnapshot(
      h,
      counters([
        ['a', [100, 1000, 100]],
        ['b', [10, 50, 10]],
      ]),
      0,
    );
    h = addSnapshot(
      h,
      counters([
        ['a', [150, 1500, 150]],
        ['b', [20, 100, 20]],
      ]),
      30 * 60_000,
    );
    const now = HOUR;
    const base = windowBase(h, now, HOUR);
    assert.equal(base?.at, 0);
    const d = windowCounters(
      counters([
        ['a', [160, 2000, 160]],
        ['b', [3, 9, 3]],
        ['c', [5, 5, 5]],
      ]),
      base!,
    );
    assert.deepEqual(d.get('a'), [60, 1000, 60]);
    assert.deepEqual(d.get('b'), [3, 9, 3], 'reset since: what came after');
    assert.deepEqual(d.get('c'), [5, 5, 5], 'new since a complete snapshot');
  });

  it('a statement twice as slow over the last hour as the day before, 50 calls each, is a regression', () => {
    let h = emptyHistory('t');
    const now = 30 * HOUR;
    h.statements = [
      { at: now - 25 * HOUR, complete: true, rows: { slow: [0, 0, 0], same: [0, 0, 0], few: [0, 0, 0] } },
      {
        at: now - HOUR,
        complete: true,
        rows: { slow: [1000, 10_000, 0], same: [1000, 10_000, 0], few: [1000, 10_000, 0] },
      },
    ];
    const current = counters([
      ['slow', [1100, 12_000, 0]],
      ['same', [1100, 11_500, 0]],
      ['few', [1040, 11_000, 0]],
    ]);
    const found = findRegressions(h, current, now);
    assert.deepEqual(
      found.map((r) => r.queryid),
      ['slow'],
    );
    assert.equal(found[0]?.recentMeanSeconds, 0.02);
    assert.equal(found[0]?.baselineMeanSeconds, 0.01);
    h = { ...h, statements: h.statements.slice(1) };
    assert.deepEqual(findRegressions(h, current, now), [], 'no day of snapshots, no verdict');
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
