import type { ChalkInstance } from 'chalk';
import type { AppReport } from '../app/model.js';
import { DEFAULT_QUEUE_BACKLOG } from '../app/broker/broker.js';
import {
  CERT_CRITICAL_DAYS,
  DEFAULT_CERT_DAYS,
  DEFAULT_PROBE_SLOW_MS,
  describeCertDays,
} from '../app/probes/probes.js';
import { paintLevel } from '../core/paint.js';

const secs = (s: number | null): string => (s === null ? '-' : `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`);

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
      ? paintLevel(paint, slow ? 'warning' : 'ok', `up ${p.status ?? ''} ${secs(p.seconds)}`)
      : paintLevel(paint, 'critical', `DOWN ${p.status ?? ''}`.trimEnd());
    const parts = [`probe ${p.name.padEnd(width)}  ${state}`];
    if (p.ttfbSeconds !== null) parts.push(`first byte ${secs(p.ttfbSeconds)}`);
    if (p.p95HourSeconds !== null) parts.push(`p95 1h ${secs(p.p95HourSeconds)}`);
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
