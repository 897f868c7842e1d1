// The parsing programs of src/app on real lines (uvicorn 0.17, gunicorn 20.1, Celery 5.2, nginx, Caddy),
// the route collapsing, the rules file, and the Prometheus text through promtool.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parseCeleryLine, parseJsonRequest, parseRequestLine, type RequestLine } from '../../src/app/logs/formats.js';
import { collapseRoute } from '../../src/app/logs/routes.js';
import { matchRule, parseRules } from '../../src/app/logs/rules.js';
import { LineScanner } from '../../src/app/logs/scan.js';
import { emptyTotals, Tally } from '../../src/app/logs/tally.js';
import { httpFigures, ruleFigures, taskFigures } from '../../src/app/logs/window.js';
import { renderAppExposition } from '../../src/app/exposition.js';

function request(line: string): { method: string; path: string; status: number; duration: number } | null {
  const buf = Buffer.from(line);
  const out: RequestLine = { methodStart: 0, methodEnd: 0, pathEnd: 0, status: 0, duration: -1, hash: 0, check: 0 };
  if (!parseRequestLine(buf, buf.indexOf(0x22), buf.length, out, 0)) return null;
  return {
    method: buf.toString('latin1', out.methodStart, out.methodEnd),
    path: buf.toString('latin1', out.methodEnd + 1, out.pathEnd),
    status: out.status,
    duration: out.duration,
  };
}

describe('request lines', () => {
  it('uvicorn alone: no duration', () => {
    assert.deepEqual(request('INFO:     172.18.0.1:51234 - "GET /api/v1/edits/42 HTTP/1.1" 200 OK'), {
      method: 'GET',
      path: '/api/v1/edits/42',
      status: 200,
      duration: -1,
    });
  });
  it('uvicorn under gunicorn UvicornWorker', () => {
    assert.deepEqual(request('127.0.0.1:44834 - "POST /p?x=1 HTTP/1.1" 500'), {
      method: 'POST',
      path: '/p',
      status: 500,
      duration: -1,
    });
  });
  it('gunicorn default format (no duration) and with %(D)s, %(L)s, %(M)sms', () => {
    const base = '127.0.0.1 - - [02/Dec/2026:13:08:58 +0000] "GET /slow HTTP/1.1" 200 2 "-" "curl/7.88.1"';
    assert.equal(request(base)?.duration, -1);
    assert.equal(request(`${base} 250123`)?.duration, 0.250123);
    assert.equal(request(`${base} 0.250123`)?.duration, 0.250123);
    assert.equal(request(`${base} 250ms`)?.duration, 0.25);
  });
  it('nginx combined with and without $request_time', () => {
    const line =
      '203.0.113.9 - - [02/Dec/2026:13:08:58 +0000] "PUT /api/v1/edits/7 HTTP/2.0" 404 153 "-" "Mozilla/5.0 (X11)"';
    assert.deepEqual(request(line), { method: 'PUT', path: '/api/v1/edits/7', status: 404, duration: -1 });
    assert.equal(request(`${line} 1.004`)?.duration, 1.004);
  });
  it('not request lines', () => {
    assert.equal(request('INFO:     Application startup complete.'), null);
    assert.equal(request('he said "GET out" 200 times'), null);
  });
  it('JSON lines: Caddy and plain status/method/path', () => {
    const caddy = JSON.parse(
      '{"level":"info","ts":1733144938.1,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"127.0.0.1","proto":"HTTP/1.1","method":"GET","host":"x","uri":"/api/v1/edits/42?a=1","headers":{}},"bytes_read":0,"user_id":"","duration":0.0123,"size":2,"status":200,"resp_headers":{}}',
    );
    assert.deepEqual(parseJsonRequest(caddy), {
      method: 'GET',
      path: '/api/v1/edits/42',
      status: 200,
      duration: 0.0123,
    });
    assert.deepEqual(parseJsonRequest({ method: 'POST', path: '/x', status: 503, duration_ms: 1500 }), {
      method: 'POST',
      path: '/x',
      status: 503,
      duration: 1.5,
    });
    assert.equal(parseJsonRequest({ msg: 'hello', status: 'ok' }), null);
  });
});

describe('Celery worker lines (5.2)', () => {
  it('received, succeeded (plain and scientific), raised unexpected, retry', () => {
    assert.deepEqual(parseCeleryLine('[2026-12-02 13:08:58,123: INFO/MainProcess] Task tasks.add[0f3e-11] received'), {
      task: 'tasks.add',
      state: 'received',
      duration: null,
    });
    assert.deepEqual(
      parseCeleryLine('[2026-12-02 13:08:58,124: INFO/ForkPoolWorker-1] Task tasks.add[0f3e-11] succeeded in 12.3s: 5'),
      { task: 'tasks.add', state: 'succeeded', duration: 12.3 },
    );
    assert.equal(
      parseCeleryLine('[2026-12-02 13:08:58,124: INFO/ForkPoolWorker-2] Task t.ok[a-b] succeeded in 3.96e-05s: None')
        ?.duration,
      3.96e-5,
    );
    assert.equal(
      parseCeleryLine(
        "[2026-12-02 13:08:58,125: ERROR/ForkPoolWorker-1] Task t.fail[x] raised unexpected: ValueError('no')",
      )?.state,
      'failed',
    );
    assert.equal(
      parseCeleryLine('[2026-12-02 13:08:58,126: INFO/ForkPoolWorker-1] Task t.flaky[x] retry: Retry in 1s: KeyError()')
        ?.state,
      'retried',
    );
    assert.equal(parseCeleryLine('celery@host ready.'), null);
  });
});

describe('routes', () => {
  it('ids, UUIDs and hex hashes collapse to :id', () => {
    assert.equal(collapseRoute('/api/v1/edits/42'), '/api/v1/edits/:id');
    assert.equal(collapseRoute('/api/v1/users/7f3c2a1e-1b2c-4d5e-8f90-123456789abc/edits'), '/api/v1/users/:id/edits');
    assert.equal(collapseRoute('/blobs/3f9a8c7d1e2b4a5f'), '/blobs/:id');
    assert.equal(collapseRoute('/static/app.3f9a8c7d1e2b.js'), '/static/app.:id.js');
    assert.equal(collapseRoute('/health'), '/health');
    assert.equal(collapseRoute('/api/v1/defaced'), '/api/v1/defaced');
  });
});

describe('MIZUAL_APP_RULES', () => {
  const text = [
    '# the app timing lines',
    'stage celery STAGE COMPLETED: edit_id=\\d+, stage=(?<label>\\w+), duration=(?<duration>[\\d.]+s)',
    'total * TOTAL TIME: (?<duration>[\\d.]+)s, FINAL STATUS: (?<status>\\w+)',
    'broken backend (unclosed',
    'onlyname',
  ].join('\n');
  it('parses good lines; a malformed one names its line and the others still work', () => {
    const { rules, problems } = parseRules(text, 'rules.txt');
    assert.deepEqual(
      rules.map((r) => [r.name, r.container, r.line]),
      [
        ['stage', 'celery', 2],
        ['total', '*', 3],
      ],
    );
    assert.equal(problems.length, 2);
    assert.match(problems[0] as string, /^rules\.txt line 4: invalid regex/);
    assert.match(problems[1] as string, /^rules\.txt line 5: expected NAME CONTAINER REGEX/);
    const [stage, total] = rules as [(typeof rules)[0], (typeof rules)[0]];
    assert.deepEqual(matchRule(stage, 'STAGE COMPLETED: edit_id=7, stage=flux_api, duration=12.345s, tokens=3'), {
      label: 'flux_api',
      duration: 12.345,
    });
    assert.deepEqual(matchRule(total, 'TOTAL TIME: 31.2s, FINAL STATUS: completed'), {
      label: 'completed',
      duration: 31.2,
    });
  });
});

describe('scanner over json-file entries', () => {
  it('counts requests, tasks and rule events from escaped entries; Prometheus text passes promtool', () => {
    const now = Date.UTC(2026, 11, 2, 13, 8);
    const tally = new Tally(emptyTotals(), now / 60_000 - 60);
    const { rules } = parseRules('total * TOTAL TIME: (?<duration>[\\d.]+)s, FINAL STATUS: (?<status>\\w+)', 'r');
    const scanner = new LineScanner(tally, 'backend', rules);
    const entry = (log: string): string =>
      `${JSON.stringify({ log: `${log}\n`, stream: 'stdout', time: '2026-12-02T13:08:58.123456789Z' })}\n`;
    const text = [
      entry('INFO:     172.18.0.1:51234 - "GET /api/v1/edits/42 HTTP/1.1" 200 OK'),
      entry('INFO:     172.18.0.1:51234 - "GET /api/v1/edits/43 HTTP/1.1" 500 Internal Server Error'),
      entry('127.0.0.1 - - [02/Dec/2026:13:08:58 +0000] "GET /slow HTTP/1.1" 200 2 "-" "curl/7.88.1" 1500000'),
      entry('{"method":"POST","path":"/j","status":201,"duration":0.5}'),
      entry('[2026-12-02 13:08:58,124: INFO/ForkPoolWorker-1] Task t.ok[a-b] succeeded in 0.2s: None'),
      entry('TOTAL TIME: 31.2s, FINAL STATUS: completed'),
    ].join('');
    const buf = Buffer.from(text);
    scanner.jsonFile(buf, 0, buf.length);
    const buckets = tally.fold([]);
    const http = httpFigures(buckets)[0];
    assert.equal(http?.requests, 4);
    assert.deepEqual(http?.status, { '2xx': 3, '3xx': 0, '4xx': 0, '5xx': 1 });
    assert.deepEqual(
      http?.routes.map((r) => `${r.method} ${r.route} ${r.requests}`),
      ['GET /api/v1/edits/:id 2', 'POST /j 1', 'GET /slow 1'],
    );
    assert.ok(Math.abs((http?.duration?.max ?? 0) - 1.5) < 1e-9);
    assert.deepEqual(
      taskFigures(buckets).map((t) => [t.task, t.succeeded]),
      [['t.ok', 1]],
    );
    assert.deepEqual(
      ruleFigures(buckets).map((r) => [r.name, r.label, r.count]),
      [['total', 'completed', 1]],
    );
    const exposition = renderAppExposition(tally.totals);
    assert.match(exposition, /mizual_http_requests_total\{container="backend",method="GET",code="500"\} 1/);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  });
});

describe('labels stay bounded', () => {
  it('made-up methods are OTHER, routes past 100 are `other`, rule labels past 100 in the counters are `other`', () => {
    const now = Date.UTC(2026, 11, 2, 13, 8);
    const tally = new Tally(emptyTotals(), now / 60_000 - 60);
    const { rules } = parseRules('edit * edit=(?<label>\\d+)', 'r');
    const scanner = new LineScanner(tally, 'backend', rules);
    let text = '';
    for (let i = 0; i < 150; i++) {
      const log = `INFO:     1.2.3.4:5 - "${i % 2 ? 'GET' : 'XYZZY'} /r${'abcdefghij'[i % 10]}/x${String.fromCharCode(97 + (i % 26))}${Math.floor(i / 26)}q HTTP/1.1" 200 OK edit=${i}\n`;
      text += `${JSON.stringify({ log, stream: 'stdout', time: '2026-12-02T13:08:58.1Z' })}\n`;
    }
    const buf = Buffer.from(text);
    scanner.jsonFile(buf, 0, buf.length);
    const buckets = tally.fold([]);
    const methods = Object.keys(tally.totals.http['backend'] ?? {}).sort();
    assert.deepEqual(methods, ['GET 200', 'OTHER 200']);
    const series = Object.keys(buckets[0]?.http['backend'] ?? {});
    assert.equal(series.filter((k) => !k.endsWith(' other')).length, 100);
    assert.ok(series.some((k) => k.endsWith(' other')));
    const labels = Object.keys(tally.totals.rules);
    assert.ok(labels.length <= 101 && labels.includes('edit\tother'), String(labels.length));
    assert.equal(
      Object.values(tally.totals.rules).reduce((a, b) => a + b, 0),
      150,
    );
  });
});
