import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { parseNanoTime } from '../../src/core/time.js';
import { datesForRange, parseRange, parseTimeArg, selectForRange } from '../../src/fetch/range.js';

const now = Date.parse('2026-11-22T12:00:00Z');
const ns = parseNanoTime;

describe('--since / --until', () => {
  it('reads RFC 3339, "YYYY-MM-DD HH:MM[:SS]" as UTC, and durations back from now', () => {
    assert.equal(parseTimeArg('2026-11-21T23:40:00Z', '--since', now), ns('2026-11-21T23:40:00Z'));
    assert.equal(parseTimeArg('2026-11-22T01:40:00.5+02:00', '--since', now), ns('2026-11-21T23:40:00.5Z'));
    assert.equal(parseTimeArg('2026-11-21 23:40', '--since', now), ns('2026-11-21T23:40:00Z'));
    assert.equal(parseTimeArg('2026-11-21 23:40:07', '--since', now), ns('2026-11-21T23:40:07Z'));
    assert.equal(parseTimeArg('2h', '--since', now), ns('2026-11-22T10:00:00Z'));
    assert.equal(parseTimeArg('90m', '--since', now), ns('2026-11-22T10:30:00Z'));
    assert.equal(parseTimeArg('3d', '--since', now), ns('2026-11-19T12:00:00Z'));
  });

  it('refuses other forms, impossible dates and reversed ranges with the expected forms', () => {
    for (const bad of ['yesterday', '2026-11-21', '2026-02-30 10:00', '2026-11-21 25:00', '23:40', '2x', '-2h']) {
      assert.throws(
        () => parseTimeArg(bad, '--since', now),
        (err: unknown) =>
          err instanceof UsageError && /RFC 3339 .*YYYY-MM-DD HH:MM\[:SS\].*2h, 90m, 3d/.test(err.message),
        bad,
      );
    }
    assert.throws(() => parseRange('2026-11-22 00:00', '2026-11-21 00:00', now), /--since must not be later/);
    assert.throws(() => parseRange(undefined, '2h', now), /--until needs --since/);
    assert.throws(() => parseRange('2026-11-23 00:00', undefined, now), /later than --until .*'now'/);
    assert.deepEqual(parseRange('2h', undefined, now), {
      since: ns('2026-11-22T10:00:00Z'),
      until: ns('2026-11-22T12:00:00Z'),
    });
    assert.equal(parseRange(undefined, undefined, now), undefined);
  });
});

describe('choosing archives for a range', () => {
  const range = { since: ns('2026-11-21T23:40:00Z'), until: ns('2026-11-22T00:20:00Z') };
  const at = (iso: string): { end: Date; name: string } => ({ end: new Date(iso), name: iso });

  it('lists the days the range touches, the day before its first second, and the first day after it', () => {
    const existing = ['2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22', '2026-11-25', '2026-11-26'];
    assert.deepEqual(datesForRange(existing, range), ['2026-11-21', '2026-11-22', '2026-11-25']);
    assert.deepEqual(datesForRange(['2026-11-25', '2026-11-26'], range), [], 'a host that began later');
    assert.deepEqual(datesForRange(['2026-11-01', '2026-11-25'], range), ['2026-11-25'], 'a host that missed days');
    const midnight = { since: ns('2026-11-22T00:00:00.5Z'), until: ns('2026-11-22T00:10:00Z') };
    assert.deepEqual(datesForRange(existing, midnight), ['2026-11-21', '2026-11-22', '2026-11-25']);
  });

  it('takes the archives whose window [previous name, name + 1 s) meets the range', () => {
    const half = ['2026-11-21T23:00:00Z', '2026-11-21T23:30:00Z', '2026-11-22T00:00:00Z', '2026-11-22T00:30:00Z'];
    const all = [...half, '2026-11-22T01:00:00Z'].map(at);
    assert.deepEqual(
      selectForRange(all, range).map((a) => a.name),
      ['2026-11-22T00:00:00Z', '2026-11-22T00:30:00Z'],
    );
    // A window ends within the second after its name: a range starting in that second needs it.
    const edge = { since: ns('2026-11-21T23:30:00.4Z'), until: ns('2026-11-21T23:30:00.9Z') };
    assert.deepEqual(
      selectForRange(all, edge).map((a) => a.name),
      ['2026-11-21T23:30:00Z', '2026-11-22T00:00:00Z'],
    );
    // After a missed day, the next archive holds the lines of the range.
    const late = [at('2026-11-21T23:00:00Z'), at('2026-11-25T08:00:00Z'), at('2026-11-25T08:30:00Z')];
    assert.deepEqual(
      selectForRange(late, range).map((a) => a.name),
      ['2026-11-25T08:00:00Z'],
    );
  });
});
