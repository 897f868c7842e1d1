// Cost and noise: line shapes, the per-entry record, what Docker could reclaim, memory right-sizing,
// and the projection from the shipper's record.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatEntryBytes, parseEntryBytes, entryBytesLabel } from '../../src/archive/contract.js';
import { monthlyCost, perDay, shipCostFigures } from '../../src/core/cost.js';
import { reclaimableOf } from '../../src/docker/disk-usage.js';
import { memoryVerdict } from '../../src/metrics/cost.js';
import { mergePatterns, ShapeCounter } from '../../src/ship/shapes.js';

const TS = '2026-12-07T14:29:08.123456789Z ';

function shapesOf(lines: string[], chunk = 0): ReturnType<ShapeCounter['shapes']> {
  const c = new ShapeCounter();
  const data = Buffer.from(lines.map((l) => `${TS}${l}\n`).join(''));
  if (chunk === 0) c.write(data);
  else for (let i = 0; i < data.length; i += chunk) c.write(data.subarray(i, i + chunk));
  c.flush();
  return c.shapes();
}

describe('line shapes', () => {
  it('masks digits, hex ids, UUIDs and quoted values, after the timestamp', () => {
    const [a, b, c] = [
      'INFO:     127.0.0.1:51234 - "GET /items/42 HTTP/1.1" 200 OK',
      'task 550e8400-e29b-41d4-a716-446655440000 sha=3f2a9b0c11aa done',
      '{"level":"info","msg":"user 7 saved"} name=\'x\'',
    ].map((l) => shapesOf([l])[0]?.shape);
    assert.equal(a, 'INFO:     <n>.<n>.<n>.<n>:<n> - "GET /items/<n> HTTP/<n>.<n>" <n> OK');
    assert.equal(b, 'task <uuid> sha=<hex> done');
    assert.equal(c, '{"level":"<s>","msg":"<s>"} name=\'<s>\'');
  });

  it('lines differing only in masked parts are one shape; bytes and lines are counted whole', () => {
    const lines = ['GET /health 200 in 3ms', 'GET /health 200 in 12ms', 'POST /edit 500 in 9ms'];
    const shapes = shapesOf(lines);
    assert.deepEqual(
      shapes.map((s) => [s.shape, s.lines, s.bytes]),
      [
        ['GET /health <n> in <n>ms', 2, (TS.length + 23) * 2 + 1],
        ['POST /edit <n> in <n>ms', 1, TS.length + 22],
      ],
    );
  });

  it('the same counts whatever the chunks a line arrives in', () => {
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(i * 7)} "q${i}" id=${i}`);
    assert.deepEqual(shapesOf(lines, 1), shapesOf(lines));
    assert.deepEqual(shapesOf(lines, 13), shapesOf(lines));
  });

  it('only the first 120 characters make the shape; a long line counts all its bytes', () => {
    const long = `${'a'.repeat(119)}bc${'z'.repeat(1000)}`;
    const [s] = shapesOf([long]);
    assert.equal(s?.shape, 'a'.repeat(119) + 'b');
    assert.equal(s?.bytes, TS.length + long.length + 1);
  });

  it('the table stays bounded, the totals stay exact, and the kept top 20 merge across runs', () => {
    const c = new ShapeCounter();
    let bytes = 0;
    for (let i = 0; i < 5000; i++) {
      const line = `${TS}${'w'.repeat(1 + (i % 4000))}\n`;
      bytes += line.length;
      c.write(Buffer.from(line));
    }
    assert.ok(c.shapes().length <= 2000);
    assert.equal(c.totalBytes, bytes);
    assert.equal(c.totalLines, 5000);
    const kept = mergePatterns(undefined, c, Date.parse('2026-12-07T00:00:00Z'));
    assert.equal(kept.shapes.length, 20);
    const again = mergePatterns(kept, c, Date.parse('2026-12-08T00:00:00Z'));
    assert.equal(again.bytes, 2 * bytes);
    assert.equal(again.shapes[0]?.bytes, 2 * (kept.shapes[0]?.bytes ?? 0));
    // After 30 days the old counts weigh half.
    const later = mergePatterns(again, new ShapeCounter(), Date.parse('2027-01-20T00:00:00Z'));
    assert.equal(later.bytes, bytes);
  });
});

describe('the per-entry record in the object metadata', () => {
  it('round-trips, largest first, and names the alert log and a container called alerts apart', () => {
    const text = formatEntryBytes({ celery: 20, backend: 300, alerts: 5, 'alerts@container': 7 });
    assert.equal(text, 'backend=300,celery=20,alerts@container=7,alerts=5');
    assert.deepEqual(parseEntryBytes(text), { backend: 300, celery: 20, 'alerts@container': 7, alerts: 5 });
    assert.equal(entryBytesLabel({ kind: 'alerts' }), 'alerts');
    assert.equal(entryBytesLabel({ kind: 'container', short: 'Alerts' }), 'Alerts@container');
    assert.equal(parseEntryBytes('backend=x'), undefined);
    assert.equal(parseEntryBytes(undefined), undefined);
  });

  it('stays within the metadata limit, leaving out the smallest entries', () => {
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`container-${i}`, 1_000_000 + i]));
    const text = formatEntryBytes(many);
    assert.ok(text.length <= 1800);
    assert.match(text, /^container-299=1000299,/);
  });
});

describe('prices and projections', () => {
  it('the first 10 GB are free; the rest at the price per TB', () => {
    const prices = { pricePerTb: 6, freeGb: 10 };
    assert.equal(monthlyCost(9e9, prices), 0);
    assert.ok(Math.abs(monthlyCost(1010e9, prices) - 6) < 1e-12);
  });

  it('the daily rate is over the window, or the time since recording began (at least a day)', () => {
    const now = Date.parse('2026-12-10T00:00:00Z');
    const items = [1, 2, 3, 8].map((d) => ({ timeMs: now - d * 86_400_000 + 1, bytes: 100 }));
    assert.equal(perDay(items, now, 7, now - 20 * 86_400_000), 300 / 7);
    assert.equal(perDay(items, now, 7, now - 2 * 86_400_000), 300 / 2);
    assert.equal(perDay(items, now, 7, now - 3_600_000), 300);
  });

  it("the shipper's record: bytes within the retention per container, the projection at the 7-day rate", () => {
    const now = Date.parse('2026-12-10T12:00:00Z');
    const usage = {
      since: '2026-11-01T00:00:00Z',
      archives: {},
      patterns: {},
      days: {
        '2026-11-01': { backend: 999 },
        ...Object.fromEntries(
          Array.from({ length: 7 }, (_, i) => [
            `2026-12-${String(4 + i).padStart(2, '0')}`,
            { backend: 70, celery: 7 },
          ]),
        ),
      },
    };
    const f = shipCostFigures(usage, now, 30, { pricePerTb: 6, freeGb: 0 });
    assert.deepEqual(f.storedBytes, { backend: 490, celery: 49 });
    // Six and a half days of the seven counted in (the last one half past): 539 bytes over 7 days.
    assert.ok(f.perDay7 > 0 && f.steadyStateBytes === f.perDay7 * 30);
    assert.ok(Math.abs(f.projectedMonthlyCost - (f.steadyStateBytes / 1e12) * 6) < 1e-15);
  });
});

describe('what Docker could reclaim (as `docker system df` counts it)', () => {
  it('images less what those in use take alone, stopped containers, unused volumes, build cache not in use', () => {
    const r = reclaimableOf({
      LayersSize: 1000,
      Images: [
        { Containers: 1, Size: 400, SharedSize: 100 },
        { Containers: 0, Size: 600, SharedSize: 100 },
        { Containers: 2, Size: -1, SharedSize: -1 },
      ],
      Containers: [
        { State: 'running', SizeRw: 50 },
        { State: 'exited', SizeRw: 70 },
        { State: 'created', SizeRw: 5 },
        { State: 'paused', SizeRw: 9 },
      ],
      Volumes: [
        { UsageData: { Size: 30, RefCount: 0 } },
        { UsageData: { Size: 40, RefCount: 1 } },
        { UsageData: { Size: -1, RefCount: 0 } },
      ],
      BuildCache: [
        { Size: 10, InUse: true, Shared: false },
        { Size: 20, InUse: true, Shared: true },
        { Size: 40, InUse: false, Shared: false },
      ],
      BuilderSize: 70,
    });
    assert.deepEqual(r, { images: 700, buildCache: 60, containers: 75, volumes: 30, total: 865 });
  });
});

describe('memory right-sizing', () => {
  it('near the limit within 10%, oversized under a third, else ok; no limit said', () => {
    assert.equal(memoryVerdict(1000, 900), 'near-limit');
    assert.equal(memoryVerdict(1000, 899), 'ok');
    assert.equal(memoryVerdict(1000, 333), 'oversized');
    assert.equal(memoryVerdict(1000, null), 'ok');
    assert.equal(memoryVerdict(null, 500), 'no-limit');
  });
});

describe('the cost and docker-disk alert checks', () => {
  it("cost: from the shipper's record, WARNING past the budget, skipped with no record", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { checkCost } = await import('../../src/alerts/checks/cost.js');
    const dir = mkdtempSync(path.join(tmpdir(), 'mizual-cost-check-'));
    try {
      const now = new Date('2026-12-10T12:00:00Z');
      const none = await checkCost(dir, 1, 6, 90, now);
      assert.equal(none.skipped, true);
      // 200 GB a day for 90 days: 18 TB, less 10 GB free, at 6 a TB.
      const days = Object.fromEntries(
        Array.from({ length: 8 }, (_, i) => [`2026-12-${String(3 + i).padStart(2, '0')}`, { backend: 200e9 }]),
      );
      const state = {
        version: 1,
        containers: {},
        alertLog: null,
        pending: [],
        lastUploadAt: null,
        lastSuccessAt: null,
        usage: { since: '2026-11-01T00:00:00Z', days, archives: {}, patterns: {} },
      };
      writeFileSync(path.join(dir, 'ship-state.json'), JSON.stringify(state));
      const over = await checkCost(dir, 100, 6, 90, now);
      assert.equal(over.check, 'cost');
      assert.ok(over.measure && over.measure.value > 100, JSON.stringify(over));
      assert.match(over.message, /^projected log storage \d+\.\d\d a month \(budget 100\)/);
      const under = await checkCost(dir, 1e6, 6, 90, now);
      assert.ok(under.measure && under.measure.value < under.measure.threshold);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('docker-disk: names each part, and the command once past the limit', async () => {
    const { observeReclaimable } = await import('../../src/alerts/checks/docker-disk.js');
    const r = { images: 6e9, buildCache: 0, containers: 1e6, volumes: 0, total: 6e9 + 1e6 };
    const o = observeReclaimable(r, 5 * 1024 ** 3);
    assert.deepEqual(o.measure, { value: r.total, threshold: 5 * 1024 ** 3 });
    assert.match(
      o.message,
      /^Docker could reclaim 5\.6 GiB \(unused images 5\.6 GiB, stopped containers 977 KiB\): docker system prune --all --volumes$/,
    );
    assert.doesNotMatch(observeReclaimable(r, 10 * 1024 ** 3).message, /prune/);
  });
});
