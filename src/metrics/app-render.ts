/**
 * The "application" section of the dashboard: one line per web container, per task kind and per rule,
 * coloured against the thresholds of mizual-alerts' application checks. Empty (nothing printed) when
 * no container writes such lines and nothing is wrong with the rules.
 */
import type { ChalkInstance } from 'chalk';
import type { AppReport, HttpFigure } from '../app/model.js';
import { judgeTasks } from '../app/logs/celery.js';
import { DEFAULT_APP_LIMITS, type AppLimits } from '../app/limits.js';
import { DEFAULT_QUEUE_BACKLOG } from '../app/broker/broker.js';
import {
  CERT_CRITICAL_DAYS,
  DEFAULT_CERT_DAYS,
  DEFAULT_PROBE_SLOW_MS,
  describeCertDays,
} from '../app/probes/probes.js';
import { paintLevel, renderTable } from '../core/paint.js';

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
    (p) =>
      shown > 0 ||
      p.startsWith('MIZUAL_APP_RULES') ||
      p.startsWith('app metrics') ||
      unknown.some((f) => p.startsWith(`${f.container}: `)),
  );
  if (shown === 0 && problems.length === 0) return [];
  const lines = ['', paint.bold(`application (last ${Math.round(app.window.seconds / 60)} min)`)];
  const rows: string[][] = [];
  const timed = new Set(app.http.filter((h) => h.duration).map((h) => h.container));
  const untimed: string[] = [];
  for (const h of app.http) {
    const pct = h.errorRate * 100;
    const judged = h.requests >= limits.minRequests;
    const errLevel = judged && pct >= limits.errorRatePercent ? 'warning' : 'ok';
    const d = h.duration;
    const latLevel = d && d.p95 >= limits.latencySeconds ? 'warning' : 'ok';
    if (!d && !timed.has(h.container) && !untimed.includes(h.container)) untimed.push(h.container);
    rows.push([
      `web ${h.container}${h.source === 'metrics' ? ' (app metrics)' : ''}`,
      `${h.requests} req`,
      `${h.status['2xx']}/${h.status['3xx']}/${h.status['4xx']}/${h.status['5xx']}`,
      paintLevel(paint, errLevel, `${pct.toFixed(1)}% 5xx`),
      d
        ? paintLevel(paint, latLevel, `p50 ${secs(d.p50)} p95 ${secs(d.p95)} p99 ${secs(d.p99)}`) +
          (spark(`app.p95|${h.container}`) ? ` ${spark(`app.p95|${h.container}`)}` : '')
        : 'no durations (see below)',
    ]);
    rows.push(...routeRows(h, paint, limits));
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
  for (const c of untimed) lines.push(`${c}: ${NO_DURATION_HINT}`);
  lines.push(...renderQueuesAndProbes(app, paint, spark));
  for (const p of problems) lines.push(paint.yellow(p));
  return lines;
}

/** How to get response times for a web container whose figures carry none (one line). */
export const NO_DURATION_HINT =
  'no response times: set MIZUAL_APP_METRICS to its /metrics, add the JSON access-line middleware, ' +
  'or put a proxy logging $request_time in front (docs/application-metrics.md)';

/** Routes shown under a web container: its five slowest by p95, then every route with 5xx. */
const SLOWEST_ROUTES = 5;

function routeRows(h: HttpFigure, paint: ChalkInstance, limits: AppLimits): string[][] {
  const slowest = h.routes
    .filter((r) => r.p95 !== null)
    .sort((a, b) => (b.p95 as number) - (a.p95 as number) || b.requests - a.requests)
    .slice(0, SLOWEST_ROUTES);
  const shown = [...slowest, ...h.routes.filter((r) => r.errors > 0 && !slowest.includes(r))];
  return shown.map((r) => {
    const level = r.p95 !== null && r.p95 >= limits.latencySeconds ? 'warning' : 'ok';
    const q = [r.p50 != null ? `p50 ${secs(r.p50)}` : '', r.p95 !== null ? `p95 ${secs(r.p95)}` : '']
      .concat(r.p99 != null ? [`p99 ${secs(r.p99)}`] : [])
      .filter(Boolean)
      .join(' ');
    return [
      `  ${r.method} ${r.route}`,
      `${r.requests} req`,
      '',
      r.errors > 0 ? paintLevel(paint, 'warning', `${r.errors} 5xx`) : '',
      q ? paintLevel(paint, level, q) : '',
    ];
  });
}

function secs(s: number): string {
  if (s < 1) return `${Math.round(s * 1000)}ms`;
  return s < 100 ? `${s.toFixed(2)}s` : `${Math.round(s)}s`;
}

/** A probe's time as the probe lines write it (`0.12 s`, `-` when not measured). */
const probeSecs = (s: number | null): string => (s === null ? '-' : `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`);

/** One line per queue and per probe, coloured against the alerts' default thresholds; the broker's trouble in one line. */
export function renderQueuesAndProbes(
  app: AppReport,
  paint: ChalkInstance,
  spark: (key: string) => string = () => '',
): string[] {
  const lines: string[] = [];
  const width = Math.max(0, ...app.queues.map((q) => q.queue.length), ...app.probes.map((p) => p.name.length));
  for (const q of app.queues) {
    const label = `queue ${q.queue.padEnd(width)}`;
    if (q.length === null) lines.push(`${label}  ${paint.gray('not read')}`);
    else
      lines.push(
        `${label}  ${paintLevel(paint, q.length >= DEFAULT_QUEUE_BACKLOG ? 'warning' : 'ok', `${q.length} waiting`)}` +
          (spark(`queue|${q.queue}`) ? `  ${spark(`queue|${q.queue}`)}` : ''),
      );
  }
  for (const p of app.probes) {
    const slow = p.seconds !== null && p.seconds * 1000 > DEFAULT_PROBE_SLOW_MS;
    // Failed, but not yet as many runs in a row as MIZUAL_PROBE_RETRIES asks before DOWN.
    const failing = `failing ${p.status ?? ''}`.trimEnd() + ` (${p.failedRuns} run${p.failedRuns === 1 ? '' : 's'})`;
    const state = p.up
      ? paintLevel(paint, slow ? 'warning' : 'ok', `up ${p.status ?? ''} ${probeSecs(p.seconds)}`)
      : p.down
        ? paintLevel(paint, 'critical', `DOWN ${p.status ?? ''}`.trimEnd())
        : paintLevel(paint, 'warning', failing);
    const parts = [`probe ${p.name.padEnd(width)}  ${state}`];
    if (p.redirects > 0) parts.push(`${p.redirects} redirect${p.redirects === 1 ? '' : 's'}`);
    if (p.ttfbSeconds !== null) parts.push(`first byte ${probeSecs(p.ttfbSeconds)}`);
    if (p.p95HourSeconds !== null) parts.push(`p95 1h ${probeSecs(p.p95HourSeconds)}`);
    if (p.uptimeDayPercent !== null) parts.push(`uptime 24h ${p.uptimeDayPercent}%`);
    if (p.certDaysLeft !== null) {
      const days = p.certDaysLeft;
      const level = days <= CERT_CRITICAL_DAYS ? 'critical' : days <= DEFAULT_CERT_DAYS ? 'warning' : 'ok';
      parts.push(paintLevel(paint, level, `cert ${describeCertDays(days)}`));
    }
    parts.push(p.url);
    if (!p.up && p.error) parts.push(paint.red(p.error));
    lines.push(parts.join('  '));
  }
  return lines;
}
