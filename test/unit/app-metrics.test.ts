// MIZUAL_APP_METRICS: the exposition reader on real prometheus_client 0.16 output and starlette_exporter's
// documented shape, Prometheus' histogram_quantile, and the collector's window, restart and
// several-registries rules against a local endpoint serving chosen texts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bucketQuantile, collectAppMetrics, parseAppMetrics } from '../../src/app/app-metrics/collect.js';
import { renderAppExposition } from '../../src/app/exposition.js';
import { ExpositionReader } from '../../src/app/app-metrics/scrape.js';
import { ROOT } from '../helpers/cli.js';

const fixture = (name: string): string => readFileSync(path.join(ROOT, 'test/fixtures/app-metrics', name), 'utf8');

function read(text: string, chunk = 7): ReturnType<ExpositionReader['result']> {
  const reader = new ExpositionReader();
  // Fed in small pieces: lines cut anywhere must read the same.
  for (let i = 0; i < text.length; i += chunk) reader.push(text.slice(i, i + chunk));
  return reader.result();
}

describe('the exposition reader', () => {
  it("reads prometheus_client 0.16's http_request_duration_seconds per handler, method and status", () => {
    const got = read(fixture('prometheus-client-0.16.txt'));
    assert.equal(got.family, 'http_request_duration_seconds');
    assert.deepEqual(got.bounds, [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);
    assert.deepEqual([...got.series.keys()].sort(), [
      'GET\t/items/{item_id}\t200',
      'GET\t/slow\t200',
      'GET\t/slow\t500',
      'POST\t/fail\t503',
    ]);
    const slow = got.series.get('GET\t/slow\t200') as number[];
    // Cumulative at each bound, then count and sum (4 at 0.3 s and one at 1.2 s).
    assert.deepEqual(slow.slice(6, 11), [0, 4, 4, 4, 5]);
    assert.equal(slow[14], 5);
    assert.ok(Math.abs((slow[15] as number) - 2.4) < 1e-9);
    assert.equal(got.hasStatus, true);
  });

  it("reads starlette_exporter's path label, sums app_name, and the log path's collapsing applies later", () => {
    const got = read(fixture('starlette-exporter.txt'), 13);
    assert.equal(got.family, 'starlette_request_duration_seconds');
    assert.equal(got.series.get('GET\t/users/42\t200')?.[14], 3);
    assert.equal(got.series.get('GET\t/users/43\t200')?.[14], 1);
  });

  it('a declared histogram with no sample yet, or none at all, is an empty reading', () => {
    const declared = read('# HELP x_request_duration_seconds d\n# TYPE x_request_duration_seconds histogram\n');
    assert.equal(declared.family, 'x_request_duration_seconds');
    assert.equal(declared.series.size, 0);
    const none = read('process_start_time_seconds 1.7e9\nfoo_total 3\n');
    assert.equal(none.family, '');
    assert.equal(none.start, 1.7e9);
  });

  it('a histogram without a route-like label is not read; escaped label values are', () => {
    const text = [
      'a_request_duration_seconds_bucket{le="+Inf"} 3',
      'b_request_duration_seconds_bucket{route="/x\\"y",method="get",code="200",le="0.1"} 1',
      'b_request_duration_seconds_bucket{route="/x\\"y",method="get",code="200",le="+Inf"} 2',
      'b_request_duration_seconds_count{route="/x\\"y",method="get",code="200"} 2',
      '',
    ].join('\n');
    const got = read(text);
    assert.equal(got.family, 'b_request_duration_seconds');
    assert.deepEqual(got.series.get('GET\t/x"y\t200'), [1, 2, 0]);
  });
});

describe('bucketQuantile (histogram_quantile)', () => {
  it('interpolates inside the bucket and stops at the highest finite bound', () => {
    const bounds = [0.1, 0.5, 1];
    assert.equal(bucketQuantile(0.5, bounds, [10, 90, 100, 100]), 0.3);
    assert.equal(bucketQuantile(0.95, bounds, [10, 90, 100, 100]), 0.75);
    assert.equal(bucketQuantile(0.05, bounds, [10, 90, 100, 100]), 0.05);
    assert.equal(bucketQuantile(0.99, bounds, [0, 0, 0, 5]), 1);
    assert.equal(bucketQuantile(0.5, bounds, [0, 0, 0, 0]), null);
  });
});

describe('parseAppMetrics', () => {
  it('name=URL entries; bad ones are usage errors naming the variable', () => {
    assert.deepEqual(parseAppMetrics('web=http://backend:8000/metrics, api=https://u:p@h/m?x=1,2'), [
      { name: 'web', url: 'http://backend:8000/metrics' },
      { name: 'api', url: 'https://u:p@h/m?x=1,2' },
    ]);
    assert.throws(() => parseAppMetrics('http://x/metrics'), /MIZUAL_APP_METRICS entry 1 is not name=URL/);
    assert.throws(() => parseAppMetrics('a=ftp://x/'), /must be an http/);
    assert.throws(() => parseAppMetrics('a=http://x/,a=http://y/'), /names a twice/);
  });
});

/** A histogram text of one route: `counts` observations per bound of [0.1, 0.5, 1] (not cumulative). */
function text(start: number | null, routes: Record<string, number[]>): string {
  const lines = ['# TYPE http_request_duration_seconds histogram'];
  if (start !== null) lines.push(`process_start_time_seconds ${start}`);
  for (const [key, per] of Object.entries(routes)) {
    const [route, status] = key.split(' ') as [string, string];
    let cum = 0;
    const labels = `handler="${route}",method="GET",status="${status}"`;
    for (const [i, le] of ['0.1', '0.5', '1.0', '+Inf'].entries()) {
      cum += per[i] ?? 0;
      lines.push(`http_request_duration_seconds_bucket{${labels},le="${le}"} ${cum}`);
    }
    lines.push(
      `http_request_duration_seconds_count{${labels}} ${cum}`,
      `http_request_duration_seconds_sum{${labels}} 1`,
    );
  }
  return `${lines.join('\n')}\n`;
}

describe('collectAppMetrics', () => {
  let server: http.Server;
  let body = '';
  let url = '';
  let dir = '';
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mizual-app-metrics-unit-'));
    server = http.createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const t0 = Date.parse('2026-12-07T12:00:00Z');
  const run = (stateDir: string, minutes: number, windowMin = 5) =>
    collectAppMetrics({
      specs: [{ name: 'web', url }],
      stateDir,
      windowMs: windowMin * 60_000,
      now: new Date(t0 + minutes * 60_000),
    });

  it('the window is the difference with the reading a window ago; a restart starts anew, never negative', async () => {
    const stateDir = path.join(dir, 'a');
    body = text(100, { '/a 200': [10, 0, 0, 0] });
    const first = await run(stateDir, 0);
    assert.deepEqual(first.http, []);
    assert.match(first.problems.join('\n'), /first reading/);
    body = text(100, { '/a 200': [20, 5, 0, 0], '/b 503': [0, 0, 2, 1] });
    const second = await run(stateDir, 5);
    const h = second.http[0];
    assert.equal(h?.source, 'metrics');
    assert.equal(h?.container, 'web');
    assert.equal(h?.requests, 18);
    assert.equal(h?.status['5xx'], 3);
    assert.equal(h?.seconds, 300);
    assert.deepEqual(
      h?.routes.map((r) => [r.route, r.requests, r.errors]),
      [
        ['/a', 15, 0],
        ['/b', 3, 3],
      ],
    );
    // 10 at ≤0.1 and 5 in (0.1, 0.5]: rank 14.25 falls in the second bucket.
    assert.equal(h?.routes[0]?.p95, 0.44);
    // One request past the top bound: the maximum is not known.
    assert.equal(h?.duration?.max, null);
    // A deploy: the counts start again, lower than before.
    body = text(200, { '/a 200': [4, 0, 0, 0] });
    const third = await run(stateDir, 10);
    assert.equal(third.http[0]?.routes.find((r) => r.route === '/a')?.requests, 4);
    for (const r of third.http[0]?.routes ?? []) assert.ok(r.requests >= 0 && r.errors >= 0);
    // Our counters went on: 15 + 3 before the deploy, 4 after.
    const prom = renderAppExposition(undefined, third.totals);
    assert.match(prom, /^mizual_http_request_duration_seconds_count\{container="web",method="GET",route="\/a"\} 19$/m);
    assert.match(prom, /^mizual_http_requests_total\{container="web",method="GET",code="503"\} 3$/m);
    assert.equal(statSync(path.join(stateDir, 'app-metrics.json')).mode & 0o777, 0o600);
  });

  it('counts going back and forth with one process start are named with PROMETHEUS_MULTIPROC_DIR, no figure', async () => {
    const stateDir = path.join(dir, 'b');
    const workerA = (n: number): string => text(100, { '/a 200': [n, 0, 0, 0] });
    body = workerA(10);
    await run(stateDir, 0);
    body = workerA(3);
    const flipped = await run(stateDir, 1);
    assert.deepEqual(flipped.http, []);
    assert.match(flipped.problems.join('\n'), /go back and forth.*PROMETHEUS_MULTIPROC_DIR/);
    body = workerA(12);
    assert.deepEqual((await run(stateDir, 2)).http, []);
  });

  it('without process_start_time_seconds, down then back past where it was is two registries', async () => {
    const stateDir = path.join(dir, 'c');
    for (const [i, n] of [10, 2, 11].entries()) {
      body = text(null, { '/a 200': [n, 0, 0, 0] });
      const got = await run(stateDir, i);
      if (i === 2) assert.match(got.problems.join('\n'), /PROMETHEUS_MULTIPROC_DIR/);
    }
  });

  it('an endpoint that does not answer is one line without its credentials', async () => {
    const got = await collectAppMetrics({
      specs: [{ name: 'web', url: 'http://user:secret@127.0.0.1:1/metrics?token=abc' }],
      stateDir: path.join(dir, 'd'),
      windowMs: 300_000,
    });
    assert.deepEqual(got.http, []);
    assert.equal(got.problems.length, 1);
    assert.match(got.problems[0] as string, /^app metrics web \(http:\/\/127\.0\.0\.1:1\/metrics\): ECONNREFUSED$/);
  });
});
