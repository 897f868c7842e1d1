/**
 * The "application" section of the dashboard: one line per web container, per task kind and per rule,
 * coloured against the thresholds of mizual-alerts' application checks. Empty (nothing printed) when
 * no container writes such lines and nothing is wrong with the rules.
 */
import type { ChalkInstance } from 'chalk';
import type { AppReport } from '../app/model.js';
import { judgeTasks } from '../app/logs/celery.js';
import { DEFAULT_APP_LIMITS, type AppLimits } from '../app/limits.js';
import { paintLevel, renderTable } from '../core/paint.js';
import { renderQueuesAndProbes } from './render-app.js';

/** The section's lines (none when there is nothing to show). */
export function renderAppSection(
  app: AppReport | null,
  paint: ChalkInstance,
  color: boolean,
  limits: AppLimits = DEFAULT_APP_LIMITS,
  /** The last hour's sparkline of a kept series (src/history), '' when there is none. */
  spark: (key: string) => string = () => '',
): string[] {
  if (!app) return [];
  const shown = app.http.length + app.tasks.length + app.rules.length + app.queues.length + app.probes.length;
  // A container whose lines are read and none recognised says so even when nothing else is shown.
  const unknown = (app.sources ?? []).filter((f) => f.linesRead > 0 && f.linesUnrecognised === f.linesRead);
  const problems = app.problems.filter(
    (p) => shown > 0 || p.startsWith('MIZUAL_APP_RULES') || unknown.some((f) => p.startsWith(`${f.container}: `)),
  );
  if (shown === 0 && problems.length === 0) return [];
  const lines = ['', paint.bold(`application (last ${Math.round(app.window.seconds / 60)} min)`)];
  const rows: string[][] = [];
  for (const h of app.http) {
    const pct = h.errorRate * 100;
    const judged = h.requests >= limits.minRequests;
    const errLevel = judged && pct >= limits.errorRatePercent ? 'warning' : 'ok';
    const d = h.duration;
    const latLevel = d && d.p95 >= limits.latencySeconds ? 'warning' : 'ok';
    rows.push([
      `web ${h.container}`,
      `${h.requests} req`,
      `${h.status['2xx']}/${h.status['3xx']}/${h.status['4xx']}/${h.status['5xx']}`,
      paintLevel(paint, errLevel, `${pct.toFixed(1)}% 5xx`),
      d
        ? paintLevel(paint, latLevel, `p50 ${secs(d.p50)} p95 ${secs(d.p95)} p99 ${secs(d.p99)}`) +
          (spark(`app.p95|${h.container}`) ? ` ${spark(`app.p95|${h.container}`)}` : '')
        : 'no durations',
    ]);
  }
  const failing = new Set(
    judgeTasks(app.tasks, limits.taskFailuresPercent)
      .filter((v) => v.failing)
      .map((v) => v.task),
  );
  for (const t of app.tasks) {
    const level = failing.has(t.task) ? 'warning' : 'ok';
    rows.push([
      `task ${t.task}`,
      `${t.succeeded + t.failed} runs`,
      `${t.succeeded} ok`,
      paintLevel(paint, level, `${t.failed} failed`) +
        `, ${t.retried} retried` +
        (t.expected ? `, ${t.expected} expected` : ''),
      t.duration ? `p50 ${secs(t.duration.p50)} p95 ${secs(t.duration.p95)} max ${secs(t.duration.max)}` : '',
    ]);
  }
  for (const r of app.rules) {
    rows.push([
      `rule ${r.name}${r.label ? ` ${r.label}` : ''}`,
      `${r.count}`,
      r.container,
      '',
      r.duration ? `p50 ${secs(r.duration.p50)} p95 ${secs(r.duration.p95)} max ${secs(r.duration.max)}` : '',
    ]);
  }
  if (rows.length > 0) lines.push(renderTable(['', 'count', '2/3/4/5xx', 'errors', 'durations'], rows, color));
  lines.push(...renderQueuesAndProbes(app, paint, spark));
  for (const p of problems) lines.push(paint.yellow(p));
  return lines;
}

function secs(s: number): string {
  if (s < 1) return `${Math.round(s * 1000)}ms`;
  return s < 100 ? `${s.toFixed(2)}s` : `${Math.round(s)}s`;
}
