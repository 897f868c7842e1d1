import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatNanoTime, nanoToDate, parseLeadingTime, parseNanoTime } from '../../src/core/time.js';

describe('parseLeadingTime: one rule for every reader', () => {
  it('reads the old `date` format in UTC or GMT only; another zone name is not read as UTC', () => {
    assert.equal(parseLeadingTime('[Thu Jan 23 14:30:00 GMT 2025] x'), parseNanoTime('2025-01-23T14:30:00Z'));
    assert.equal(parseLeadingTime('[Thu Jan 23 14:30:00 CET 2025] x'), undefined);
    assert.equal(parseLeadingTime('[Thu Jan 23 14:30:00 EST 2025] x'), undefined);
  });

  it('keeps nanoseconds, handles offsets without a colon, brackets and a comma fraction', () => {
    assert.equal(
      formatNanoTime(parseLeadingTime('2026-11-25T09:00:00.000000001Z x') as bigint),
      '2026-11-25T09:00:00.000000001Z',
    );
    assert.equal(parseLeadingTime('2026-11-25T10:30:00+0130 x'), parseNanoTime('2026-11-25T09:00:00Z'));
    assert.equal(parseLeadingTime('[2026-11-25 09:00:00,250] x'), parseNanoTime('2026-11-25T09:00:00.25Z'));
    assert.equal(parseLeadingTime(Buffer.from('2026-11-25T09:00:00Z')), parseNanoTime('2026-11-25T09:00:00Z'));
  });

  it('refuses what only looks like a time: impossible dates, a number glued to text', () => {
    assert.equal(parseLeadingTime('2026-02-30T09:00:00Z x'), undefined);
    assert.equal(parseLeadingTime('2026-11-25T09:00:00Zfoo'), undefined);
    assert.equal(parseLeadingTime('x 2026-11-25T09:00:00Z'), undefined);
  });

  it('converts to milliseconds by flooring', () => {
    assert.equal(
      nanoToDate(parseNanoTime('2026-11-25T09:00:00.999999999Z')).getTime(),
      Date.parse('2026-11-25T09:00:00.999Z'),
    );
  });
});
