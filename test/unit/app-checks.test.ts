// The application checks of mizual-alerts and the dashboard's application section, at their thresholds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appObservations } from '../../src/alerts/checks/app-logs.js';
import { DEFAULT_APP_LIMITS } from '../../src/app/limits.js';
import type { AppReport, HttpFigure, TaskFigure } from '../../src/app/model.js';
import { renderAppSection } from '../../src/metrics/app-render.js';
import { createPainter } from '../../src/core/paint.js';

const http = (over: Partial<HttpFigure>): HttpFigure => ({
  container: 'backend',
  requests: 100,
  status: { '2xx': 95, '3xx': 0, '4xx': 0, '5xx': 5 },
  errorRate: 0.05,
  duration: null,
  routes: [],
  ...over,
});
const task = (over: Partial<TaskFigure>): TaskFigure => ({
  container: 'celery',
  task: 'tasks.render',
  succeeded: 9,
  failed: 1,
  retried: 0,
  duration: null,
  ...over,
});
const report = (over: Partial<AppReport>): AppReport => ({
  window: { since: '2026-12-02T13:00:00.000Z', until: '2026-12-02T13:05:00.000Z', seconds: 300 },
  http: [],
  tasks: [],
  rules: [],
  queues: [],
  probes: [],
  problems: [],
  ...over,
});

function failing(app: AppReport): Record<string, boolean | undefined> {
  return Object.fromEntries(appObservations(app, DEFAULT_APP_LIMITS).map((o) => [o.check, o.failing]));
}

describe('application checks', () => {
  it('app-errors: 5% of 20 requests fails the check, 4.9% or 19 requests do not', () => {
    assert.equal(failing(report({ http: [http({ requests: 20, errorRate: 1 / 20 })] }))['app-errors:backend'], true);
    assert.equal(failing(report({ http: [http({ requests: 1000, errorRate: 0.049 })] }))['app-errors:backend'], false);
    assert.equal(failing(report({ http: [http({ requests: 19, errorRate: 1 })] }))['app-errors:backend'], false);
  });

  it('app-latency: only for formats with durations; p95 of exactly 2 s fails', () => {
    assert.equal(failing(report({ http: [http({})] }))['app-latency:backend'], undefined);
    const d = { p50: 1, p95: 2, p99: 3, max: 4 };
    assert.equal(failing(report({ http: [http({ duration: d })] }))['app-latency:backend'], true);
    assert.equal(failing(report({ http: [http({ duration: { ...d, p95: 1.99 } })] }))['app-latency:backend'], false);
  });

  it('tasks: 10% of at least 5 finished runs; retries are not failures', () => {
    assert.equal(failing(report({ tasks: [task({})] }))['tasks:tasks.render'], true);
    assert.equal(failing(report({ tasks: [task({ succeeded: 10, failed: 1 })] }))['tasks:tasks.render'], false);
    assert.equal(
      failing(report({ tasks: [task({ succeeded: 0, failed: 4, retried: 9 })] }))['tasks:tasks.render'],
      false,
    );
  });
});

describe('dashboard application section', () => {
  const paint = createPainter(false);
  it('prints nothing when no container writes such lines', () => {
    assert.deepEqual(renderAppSection(report({}), paint, false), []);
    assert.deepEqual(renderAppSection(null, paint, false), []);
  });
  it('one line per web container, task kind and rule, and a malformed rule', () => {
    const lines = renderAppSection(
      report({
        http: [http({ duration: { p50: 0.012, p95: 0.3, p99: 2.5, max: 3 } })],
        tasks: [task({ duration: { p50: 1, p95: 2, max: 3 } })],
        rules: [{ name: 'total', container: 'celery', label: 'completed', count: 3, duration: null }],
        problems: ['MIZUAL_APP_RULES rules line 2: invalid regex (x)'],
      }),
      paint,
      false,
    ).join('\n');
    assert.match(lines, /application \(last 5 min\)/);
    assert.match(lines, /web backend\s+100 req\s+95\/0\/0\/5\s+5\.0% 5xx\s+p50 12ms p95 300ms p99 2\.50s/);
    assert.match(lines, /task tasks\.render\s+10 runs\s+9 ok\s+1 failed, 0 retried/);
    assert.match(lines, /rule total completed\s+3\s+celery/);
    assert.match(lines, /MIZUAL_APP_RULES rules line 2: invalid regex/);
  });

  it("draws the last hour's sparkline beside a container's p95 and a queue's length, only where one is kept", () => {
    const kept: Record<string, string> = { 'app.p95|backend': '▁▃█', 'queue|celery': '▁▁▅' };
    const lines = renderAppSection(
      report({
        http: [http({ duration: { p50: 0.012, p95: 0.3, p99: 2.5, max: 3 } })],
        queues: [
          { queue: 'celery', length: 7 },
          { queue: 'mail', length: 2 },
        ],
      }),
      paint,
      false,
      undefined,
      (key) => kept[key] ?? '',
    ).join('\n');
    assert.match(lines, /p95 300ms p99 2\.50s ▁▃█/);
    assert.match(lines, /^queue celery\s+7 waiting {2}▁▁▅$/m);
    assert.match(lines, /^queue mail\s+2 waiting$/m);
  });
});
