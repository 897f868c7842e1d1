/**
 * Exporting the figures: the application's cumulative counters and histograms in the Prometheus text
 * format (families whole, histograms as `_bucket{le}`, `_sum`, `_count`), for node_exporter's
 * textfile collector. The counters never go back while the state directory lives.
 */
import { checkName, formatLabels } from '../core/exposition.js';
import type { AppMetricsTotals } from './app-metrics/collect.js';
import { emptyTotals, HISTOGRAM_BOUNDS, type Histogram, type Totals } from './logs/tally.js';

/**
 * The text of the application families (empty when nothing was ever counted): from the logs' totals,
 * and per route from the app's own histograms (MIZUAL_APP_METRICS), in the same families.
 */
export function renderAppExposition(totals: Totals = emptyTotals(), fromMetrics: AppMetricsTotals[] = []): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string, lines: string[]): void => {
    checkName(name);
    if (lines.length > 0) out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
  };
  const http: string[] = [];
  for (const [container, counts] of sorted(totals.http)) {
    for (const [key, n] of sorted(counts)) {
      const [method, code] = key.split(' ') as [string, string];
      http.push(`mizual_http_requests_total${labels({ container, method, code })} ${n}`);
    }
  }
  const metricsHttp = metricsSeries(fromMetrics);
  http.push(...metricsHttp.requests);
  family(
    'mizual_http_requests_total',
    'counter',
    "HTTP requests read from a container's access lines or its app's own histogram.",
    http,
  );
  const httpHist: string[] = [];
  for (const [container, h] of sorted(totals.httpDuration)) {
    httpHist.push(...histogram('mizual_http_request_duration_seconds', { container }, h));
  }
  httpHist.push(...metricsHttp.durations);
  family(
    'mizual_http_request_duration_seconds',
    'histogram',
    "HTTP request durations, from access lines that carry them or per route from the app's own histogram.",
    httpHist,
  );
  const tasks: string[] = [];
  for (const [container, byTask] of sorted(totals.tasks)) {
    for (const [task, c] of sorted(byTask)) {
      for (const state of ['succeeded', 'failed', 'retried'] as const) {
        tasks.push(`mizual_celery_tasks_total${labels({ container, task, state })} ${c[state]}`);
      }
    }
  }
  family('mizual_celery_tasks_total', 'counter', 'Celery task runs by how they ended, from the worker log.', tasks);
  const taskHist: string[] = [];
  for (const [container, byTask] of sorted(totals.taskDuration)) {
    for (const [task, h] of sorted(byTask)) {
      taskHist.push(...histogram('mizual_celery_task_duration_seconds', { container, task }, h));
    }
  }
  family('mizual_celery_task_duration_seconds', 'histogram', 'Durations of succeeded Celery tasks.', taskHist);
  const rules: string[] = [];
  for (const [key, n] of sorted(totals.rules)) {
    const [rule, label] = key.split('\t') as [string, string];
    rules.push(`mizual_app_rule_events_total${labels({ rule, label })} ${n}`);
  }
  family('mizual_app_rule_events_total', 'counter', 'Log lines matched by a MIZUAL_APP_RULES rule.', rules);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/**
 * The app histograms' own counts per container: requests by method and status, durations per route
 * (method and route labels, the app's own buckets; routes bounded and collapsed when they were kept).
 */
function metricsSeries(fromMetrics: AppMetricsTotals[]): { requests: string[]; durations: string[] } {
  const requests: string[] = [];
  const durations: string[] = [];
  for (const ep of [...fromMetrics].sort((a, b) =>
    a.container < b.container ? -1 : a.container > b.container ? 1 : 0,
  )) {
    const n = ep.bounds.length;
    const byCode = new Map<string, number>();
    const byRoute = new Map<string, number[]>();
    for (const [key, counts] of Object.entries(ep.series)) {
      const [method, route, code] = key.split('\t') as [string, string, string];
      const k = `${method} ${code || 'unknown'}`;
      byCode.set(k, (byCode.get(k) ?? 0) + (counts[n] ?? 0));
      const rk = `${method}\t${route}`;
      const have = byRoute.get(rk);
      byRoute.set(rk, have ? have.map((v, i) => v + (counts[i] ?? 0)) : [...counts]);
    }
    for (const [k, v] of [...byCode].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const [method, code] = k.split(' ') as [string, string];
      requests.push(`mizual_http_requests_total${labels({ container: ep.container, method, code })} ${v}`);
    }
    for (const [rk, counts] of [...byRoute].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const [method, route] = rk.split('\t') as [string, string];
      const h: Histogram = { b: counts.slice(0, n), count: counts[n] ?? 0, sum: counts[n + 1] ?? 0 };
      durations.push(
        ...histogram('mizual_http_request_duration_seconds', { container: ep.container, method, route }, h, ep.bounds),
      );
    }
  }
  return { requests, durations };
}

function histogram(
  name: string,
  base: Record<string, string>,
  h: Histogram,
  bounds: readonly number[] = HISTOGRAM_BOUNDS,
): string[] {
  const lines = bounds.map((le, i) => `${name}_bucket${labels({ ...base, le: String(le) })} ${h.b[i] ?? 0}`);
  lines.push(`${name}_bucket${labels({ ...base, le: '+Inf' })} ${h.count}`);
  lines.push(`${name}_sum${labels(base)} ${Number(h.sum.toPrecision(12))}`, `${name}_count${labels(base)} ${h.count}`);
  return lines;
}

function sorted<T>(record: Record<string, T>): [string, T][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The labels of a sample, written (and escaped) by the one exposition writer. */
const labels = formatLabels;
