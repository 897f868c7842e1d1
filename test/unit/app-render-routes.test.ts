// The dashboard's route lines under each web container (five slowest by p95, every route with 5xx), the
// one-line hint where no duration is known, and the one HTTP figure per container the checks judge.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onePerContainer } from '../../src/app/app-metrics/collect.js';
import type { AppReport, HttpFigure, RouteFigure } from '../../src/app/model.js';
import { createPainter } from '../../src/core/paint.js';
import { renderAppSection } from '../../src/metrics/app-render.js';

const route = (name: string, p95: number | null, errors = 0): RouteFigure => ({
  method: 'GET',
  route: name,
  requests: 10,
  errors,
  p95,
});
const http = (over: Partial<HttpFigure>): HttpFigure => ({
  source: 'logs',
  container: 'backend',
  requests: 100,
  status: { '2xx': 100, '3xx': 0, '4xx': 0, '5xx': 0 },
  errorRate: 0,
  duration: null,
  routes: [],
  ...over,
});
const report = (entries: HttpFigure[]): AppReport => ({
  window: { since: '2026-12-07T12:00:00.000Z', until: '2026-12-07T12:05:00.000Z', seconds: 300 },
  http: entries,
  tasks: [],
  rules: [],
  queues: [],
  probes: [],
  problems: [],
});
const paint = createPainter(false);

describe('route lines under a web container', () => {
  it('the five slowest by p95, then every route with 5xx, slowest first', () => {
    const routes = [
      route('/a', 0.01),
      route('/b', 0.5),
      route('/c', 0.2),
      route('/d', 0.3),
      route('/e', 0.05),
      route('/f', 0.9),
      route('/g', 0.02, 3),
      route('/h', null),
    ];
    const lines = renderAppSection(
      report([http({ source: 'metrics', duration: { p50: 0.1, p95: 0.5, p99: 0.9, max: 1 }, routes })]),
      paint,
      false,
    );
    const shown = lines
      .join('\n')
      .split('\n')
      .map((l) => /^\s+GET (\/\w)\s/.exec(l)?.[1])
      .filter(Boolean);
    assert.deepEqual(shown, ['/f', '/b', '/d', '/c', '/e', '/g']);
    assert.match(lines.join('\n'), /web backend \(app metrics\)/);
    assert.match(lines.join('\n'), /GET \/g\s+10 req\s+3 5xx\s+p95 20ms/);
  });

  it('no duration known: one line saying how to get one, unless another source has them', () => {
    const bare = renderAppSection(report([http({})]), paint, false).join('\n');
    assert.match(bare, /no durations \(see below\)/);
    assert.match(
      bare,
      /^backend: no response times: set MIZUAL_APP_METRICS .*JSON access-line middleware.*\$request_time/m,
    );
    const both = renderAppSection(
      report([http({}), http({ source: 'metrics', duration: { p50: 0.1, p95: 0.2, p99: 0.3, max: null } })]),
      paint,
      false,
    ).join('\n');
    assert.doesNotMatch(both, /no response times/);
  });

  it('the checks judge one figure per container: the app histogram before the log', () => {
    const logs = http({ requests: 50 });
    const metrics = http({ source: 'metrics', requests: 80 });
    const other = http({ container: 'api' });
    assert.deepEqual(onePerContainer([logs, metrics, other]), [metrics, other]);
    assert.deepEqual(onePerContainer([logs, other]), [logs, other]);
  });
});
