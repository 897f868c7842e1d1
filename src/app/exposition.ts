/**
 * Exporting the figures: the application's cumulative counters and histograms in the Prometheus text
 * format (families whole, histograms as `_bucket{le}`, `_sum`, `_count`), for node_exporter's
 * textfile collector. The counters never go back while the state directory lives.
 */
import { HISTOGRAM_BOUNDS, type Histogram, type Totals } from './logs/tally.js';

/** The text of the application families (empty when nothing was ever counted). */
export function renderAppExposition(totals: Totals): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string, lines: string[]): void => {
    if (lines.length > 0) out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
  };
  const http: string[] = [];
  for (const [container, counts] of sorted(totals.http)) {
    for (const [key, n] of sorted(counts)) {
      const [method, code] = key.split(' ') as [string, string];
      http.push(`mizual_http_requests_total${labels({ container, method, code })} ${n}`);
    }
  }
  family('mizual_http_requests_total', 'counter', 'HTTP requests read from the access lines of a container.', http);
  const httpHist: string[] = [];
  for (const [container, h] of sorted(totals.httpDuration)) {
    httpHist.push(...histogram('mizual_http_request_duration_seconds', { container }, h));
  }
  family(
    'mizual_http_request_duration_seconds',
    'histogram',
    'HTTP request durations, from access lines that carry them.',
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

function histogram(name: string, base: Record<string, string>, h: Histogram): string[] {
  const lines = HISTOGRAM_BOUNDS.map((le, i) => `${name}_bucket${labels({ ...base, le: String(le) })} ${h.b[i] ?? 0}`);
  lines.push(`${name}_bucket${labels({ ...base, le: '+Inf' })} ${h.count}`);
  lines.push(`${name}_sum${labels(base)} ${Number(h.sum.toPrecision(12))}`, `${name}_count${labels(base)} ${h.count}`);
  return lines;
}

function sorted<T>(record: Record<string, T>): [string, T][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function labels(values: Record<string, string>): string {
  const parts = Object.entries(values).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return `{${parts.join(',')}}`;
}
