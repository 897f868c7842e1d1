/**
 * The "application" section of the dashboard: one line per web container, per task kind and per rule,
 * coloured against the thresholds of mizual-alerts' application checks. Empty (nothing printed) when
 * no container writes such lines and nothing is wrong with the rules.
 */
import type { ChalkInstance } from 'chalk';
import type { AppReport } from '../app/model.js';
import { DEFAULT_APP_LIMITS, taskFailureShare, type AppLimits } from '../app/limits.js';
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
  const problems = app.problems.filter((p) => shown > 0 || p.startsWith('MIZUAL_APP_RULES'));
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
  for (const t of app.tasks) {
    const share = taskFailureShare(t);
    const level = share !== null && share * 100 >= limits.taskFailuresPercent ? 'warning' : 'ok';
    rows.push([
      `task ${t.task}`,
      `${t.succeeded + t.failed} runs`,
      `${t.succeeded} ok`,
      paintLevel(paint, level, `${t.failed} failed`) + `, ${t.retried} retried`,
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
    const state = p.up
      ? paintLevel(paint, slow ? 'warning' : 'ok', `up ${p.status ?? ''} ${probeSecs(p.seconds)}`)
      : paintLevel(paint, 'critical', `DOWN ${p.status ?? ''}`.trimEnd());
    const parts = [`probe ${p.name.padEnd(width)}  ${state}`];
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
