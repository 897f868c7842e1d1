import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapLimit } from '../../src/core/concurrency.js';

describe('mapLimit', () => {
  it('keeps results in input order with at most `limit` in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([30, 5, 20, 1, 10], 2, async (ms) => {
      peak = Math.max(peak, ++inFlight);
      await sleep(ms);
      inFlight--;
      return ms * 2;
    });
    assert.deepEqual(out, [60, 10, 40, 2, 20]);
    assert.equal(peak, 2);
  });

  it('starts nothing new after a failure, lets in-flight work settle, then throws the first error', async () => {
    const started: number[] = [];
    let settled = 0;
    await assert.rejects(
      mapLimit([1, 2, 3, 4, 5], 2, async (n) => {
        started.push(n);
        await sleep(n === 1 ? 5 : 20);
        settled++;
        if (n === 1) throw new Error('first');
        return n;
      }),
      /first/,
    );
    assert.deepEqual(started, [1, 2]);
    assert.equal(settled, 2);
  });
});
