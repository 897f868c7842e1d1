// What the application figures keep between runs and count exactly: routes by volume across runs and
// scanners' 404s grouped, Docker's 16 KiB pieces joined, Prometheus buckets counted at parse time, no
// token or e-mail address kept, and app-logs.json's buckets held under their ceiling whatever the window.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boundBuckets, compactBuckets, CONTAINER_CEILING_BYTES } from '../../src/app/logs/bounds.js';
import { LineScanner } from '../../src/app/logs/scan.js';
import { emptyTotals, HISTOGRAM_BOUNDS, Tally, type MinuteBucket, type RouteBook } from '../../src/app/logs/tally.js';
import { httpFigures, sourceFigures } from '../../src/app/logs/window.js';

const NOW = Date.UTC(2026, 11, 7, 14, 30);

function entry(log: string, time = '2026-12-07T14:29:58.123456789Z', newline = true): string {
  return `${JSON.stringify({ log: newline ? `${log}\n` : log, stream: 'stdout', time })}\n`;
}

function scan(text: string, book?: RouteBook, totals = emptyTotals()): { buckets: MinuteBucket[]; tally: Tally } {
  const tally = new Tally(totals, NOW / 60_000 - 60, book);
  const scanner = new LineScanner(tally, 'backend', []);
  const buf = Buffer.from(text);
  scanner.jsonFile(buf, 0, buf.length);
  return { buckets: tally.fold([], NOW), tally };
}

const uvicorn = (path: string, status: string): string => `INFO:     10.0.0.1:5000 - "GET ${path} HTTP/1.1" ${status}`;

describe('routes kept by volume, 404s of scanners grouped', () => {
  it('150 scanner 404s then /api/items/N with 500s: the 500s keep their route', () => {
    let text = '';
    for (let i = 0; i < 150; i++)
      text += entry(
        uvicorn(
          `/probe-${'abcdefghijklmnopqrstuvwxyz'[i % 26]}${String.fromCharCode(97 + Math.floor(i / 26))}.php`,
          '404 Not Found',
        ),
      );
    for (let i = 0; i < 30; i++) text += entry(uvicorn(`/api/items/${i}`, '500 Internal Server Error'));
    const [http] = httpFigures(scan(text).buckets);
    const routes = new Map(http?.routes.map((r) => [`${r.method} ${r.route}`, r]));
    assert.equal(routes.get('GET /api/items/:id')?.errors, 30, JSON.stringify(http?.routes));
    assert.equal(routes.get('GET 404 other')?.requests, 150);
    assert.equal(http?.requests, 180);
  });

  it('past 100 routes, a busier newcomer takes a place in the next run; a 404 to a known route stays on it', () => {
    const book: RouteBook = { at: new Date(NOW).toISOString(), routes: {} };
    let text = '';
    for (let i = 0; i < 100; i++)
      text += entry(uvicorn(`/r${'abcdefghij'[i % 10]}/x${'abcdefghij'[Math.floor(i / 10)]}`, '200 OK'));
    for (let i = 0; i < 50; i++) text += entry(uvicorn('/busy', '200 OK'));
    text += entry(uvicorn('/ra/xa', '404 Not Found'));
    const first = httpFigures(scan(text, book).buckets)[0];
    assert.equal(first?.routes.find((r) => r.route === 'other')?.requests, 50, 'the newcomer waits under other');
    assert.ok(book.routes['backend']?.['GET /busy'], 'its volume is kept');
    const second = httpFigures(scan(entry(uvicorn('/busy', '200 OK')), book).buckets)[0];
    assert.deepEqual(
      second?.routes.map((r) => `${r.method} ${r.route} ${r.requests}`),
      ['GET /busy 1'],
    );
    assert.ok(Object.keys(book.routes['backend'] ?? {}).length <= 200);
  });
});

describe('lines', () => {
  it("Docker's 16 KiB pieces are one line, counted once", () => {
    const long = `${uvicorn('/items/7', '200 OK')} ${'x'.repeat(40_000)}`;
    const pieces = [long.slice(0, 16384), long.slice(16384, 32768), long.slice(32768)];
    const text =
      entry(pieces[0] as string, undefined, false) +
      entry(pieces[1] as string, undefined, false) +
      entry(pieces[2] as string) +
      entry(uvicorn('/items/8', '200 OK'));
    const { buckets } = scan(text);
    const [http] = httpFigures(buckets);
    assert.equal(http?.requests, 2);
    assert.deepEqual(sourceFigures(buckets), [
      { container: 'backend', linesRead: 2, linesUnrecognised: 0, lastLineAt: null },
    ]);
  });

  it('lines read and none recognised are counted, with a masked sample and no value of them', () => {
    const tally = new Tally(emptyTotals(), NOW / 60_000 - 60);
    const scanner = new LineScanner(tally, 'worker', []);
    const buf = Buffer.from(entry('user bob@example.com paid 42 EUR token=Ab3dEf6hIj9kLm2nOp5qRs8t') + entry('done'));
    scanner.jsonFile(buf, 0, buf.length);
    assert.equal(scanner.unrecognised, 2);
    assert.equal(scanner.sample, 'user EMAIL paid N EUR TOKEN');
    assert.deepEqual(sourceFigures(tally.fold([], NOW)), [
      { container: 'worker', linesRead: 2, linesUnrecognised: 2, lastLineAt: null },
    ]);
  });
});

describe('Prometheus buckets counted exactly at parse time', () => {
  it('a duration on a bucket boundary counts in that bucket (le is at most)', () => {
    const line = (s: string): string =>
      entry(`10.0.0.1 - - [07/Dec/2026:14:29:58 +0000] "GET /a HTTP/1.1" 200 2 "-" "curl" ${s}`);
    // Each bound itself, and just above it; the sketch's buckets are 2% wide, so a rebuilt histogram misplaces them.
    const values = HISTOGRAM_BOUNDS.flatMap((b) => [b, b * 1.005]);
    const { tally } = scan(values.map((v) => line(v.toFixed(6))).join(''));
    const h = tally.totals.httpDuration['backend'];
    assert.ok(h);
    HISTOGRAM_BOUNDS.forEach((b, i) => {
      const truth = values.filter((v) => Number(v.toFixed(6)) <= b).length;
      assert.equal(h.b[i], truth, `le=${b}`);
    });
    assert.equal(h.count, values.length);
  });
});

describe('no token or e-mail address is kept', () => {
  it('routes, route book and buckets hold none of them', () => {
    const secret = [
      'bob@example.com',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
      'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
      '01ARZ3NDEKTSV4RRFFQ69G5FAV',
    ];
    const book: RouteBook = { at: new Date(NOW).toISOString(), routes: {} };
    const text = secret.map((s) => entry(uvicorn(`/api/users/${s}/reset?x=1`, '200 OK'))).join('');
    const { buckets } = scan(text, book);
    const kept = JSON.stringify({ buckets, book });
    for (const s of secret) assert.ok(!kept.includes(s), s);
    assert.deepEqual(
      httpFigures(buckets)[0]?.routes.map((r) => r.route),
      ['/api/users/:id/reset'],
    );
  });
});

describe('app-logs.json stays bounded', () => {
  it('24 h of minutes with 120 routes and spread durations, two containers: under the ceiling, counts kept', () => {
    // One minute's series per container (shared between minutes: only read by the compaction).
    const minute = (): MinuteBucket['http'][string] => {
      const series: MinuteBucket['http'][string] = {};
      for (let r = 0; r < 120; r++) {
        const s: Record<string, number> = {};
        for (let k = 0; k < 10; k++) s[String(-350 + k * 29 + (r % 5))] = 1 + (k % 3);
        series[`GET /route/${r}`] = { n: 5, c: { 200: 4, 500: 1 }, s, max: 1.5 };
      }
      return series;
    };
    const shared = { backend: minute(), api: minute() };
    const buckets: MinuteBucket[] = [];
    let requests = 0;
    for (let m = 0; m < 1440; m++) {
      buckets.push({ m: NOW / 60_000 - 1440 + m, http: { ...shared }, tasks: {}, rules: {} });
      requests += 2 * 120 * 5;
    }
    const before = JSON.stringify(buckets[0]).length * buckets.length;
    const compacted = compactBuckets(buckets, NOW);
    boundBuckets(compacted);
    const size = JSON.stringify(compacted).length;
    assert.ok(before > 30 * 1024 * 1024, String(before));
    assert.ok(size < 2 * CONTAINER_CEILING_BYTES + 64 * 1024 && size < 2 * 1024 * 1024, String(size));
    // The last hour keeps every request; older ones may go, never be invented.
    const lastHour = httpFigures(compacted.filter((b) => b.m >= NOW / 60_000 - 60));
    for (const h of lastHour) assert.equal(h.requests, 60 * 120 * 5);
    const all = httpFigures(compacted).reduce((n, h) => n + h.requests, 0);
    assert.ok(all <= requests);
  });
});
