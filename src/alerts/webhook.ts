/**
 * Alert notifications: POST JSON in one of four shapes, 5 s per request. Whatever is not delivered
 * waits in `<stateDir>/alerts-outbox.json` and goes out first on the next run; entries older than
 * a day (or beyond the size bound) are dropped and counted so the caller can log it.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { AlertEvent } from './state.js';
import { describeError, UsageError } from '../core/errors.js';
import { describeUrl, requestUrl } from '../core/http-client.js';
import { readJsonState, writeJsonState } from '../core/state-files.js';

export const WEBHOOK_FORMATS = ['slack', 'discord', 'alertmanager', 'json'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

export const OUTBOX_FILE = 'alerts-outbox.json';
export const OUTBOX_MAX_AGE_MS = 86_400_000;
export const OUTBOX_MAX_ENTRIES = 500;
const WEBHOOK_TIMEOUT_MS = 5_000;
// Discord rejects content over 2000 characters; Slack truncates past 40 000.
const MAX_TEXT = { slack: 35_000, discord: 1_900 } as const;
const MAX_EVENTS_PER_POST = 100;

/** The format from MIZUAL_ALERT_WEBHOOK_FORMAT, else guessed from the URL (Slack, Discord, Alertmanager), else json. */
export function resolveWebhookFormat(raw: string | undefined, url: string): WebhookFormat {
  if (raw !== undefined) {
    const value = raw.trim().toLowerCase();
    if ((WEBHOOK_FORMATS as readonly string[]).includes(value)) return value as WebhookFormat;
    throw new UsageError(`MIZUAL_ALERT_WEBHOOK_FORMAT must be one of ${WEBHOOK_FORMATS.join(', ')} (got '${raw}')`);
  }
  const u = new URL(url);
  if (u.hostname === 'hooks.slack.com') return 'slack';
  if (/(^|\.)discord(app)?\.com$/.test(u.hostname) && u.pathname.startsWith('/api/webhooks/')) return 'discord';
  if (u.pathname.endsWith('/api/v2/alerts')) return 'alertmanager';
  return 'json';
}

export interface WebhookContext {
  host: string;
  /** Reminder interval: an Alertmanager alert stays firing this long (plus a margin) unless re-sent. */
  repeatMs: number;
}

const ICONS: Record<AlertEvent['severity'], string> = { CRITICAL: '🔴', WARNING: '🟠', RESOLVED: '✅' };

/** One human line per event, for the chat formats. */
export function describeEvent(event: AlertEvent, host: string): string {
  const reminder = event.reminder ? ' (reminder)' : '';
  return `${ICONS[event.severity]} ${event.severity}${reminder} ${event.check} on ${host}: ${event.message}`;
}

/** The request bodies for these events (several when a chat message would grow too long). */
export function buildWebhookBodies(
  format: WebhookFormat,
  events: readonly AlertEvent[],
  ctx: WebhookContext,
): unknown[] {
  return chunkEvents(format, events, ctx.host).map((chunk) => buildBody(format, chunk, ctx));
}

function buildBody(format: WebhookFormat, events: readonly AlertEvent[], ctx: WebhookContext): unknown {
  if (format === 'slack') return { text: events.map((e) => describeEvent(e, ctx.host)).join('\n') };
  if (format === 'discord') return { content: events.map((e) => describeEvent(e, ctx.host)).join('\n') };
  if (format === 'alertmanager') return events.flatMap((e) => toAlertmanager(e, ctx));
  return {
    source: 'mizual-alerts',
    host: ctx.host,
    alerts: events.map((e) => ({
      time: e.at,
      severity: e.severity,
      check: e.check,
      message: e.message,
      previousStatus: e.previous,
      since: e.since,
      value: e.value,
      threshold: e.threshold,
      reminder: e.reminder,
    })),
  };
}

/** Alertmanager API v2 `postableAlert`s; the labels identify an alert, so RESOLVED reuses the cleared severity. */
function toAlertmanager(event: AlertEvent, ctx: WebhookContext): unknown[] {
  const alertname = `Mizual${(event.check.split(':')[0] ?? '').replace(/^\w/, (c) => c.toUpperCase())}`;
  const labels = (severity: string) => ({
    alertname,
    check: event.check,
    severity,
    instance: ctx.host,
    job: 'mizual-alerts',
  });
  const annotations = { summary: `${event.check}: ${event.message}` };
  if (event.severity === 'RESOLVED') {
    return [{ labels: labels(event.previous), annotations, startsAt: event.since, endsAt: event.at }];
  }
  // A firing alert expires on its own unless re-sent: the reminder every --repeat re-sends it.
  const endsAt = new Date(Date.parse(event.at) + ctx.repeatMs + 15 * 60_000).toISOString();
  const severity = event.severity.toLowerCase();
  const firing = { labels: labels(severity), annotations, startsAt: event.since, endsAt };
  if (event.previous !== 'ok' && event.previous !== severity) {
    // warning → critical (or back) is a different label set: end the old one.
    return [{ labels: labels(event.previous), annotations, startsAt: event.since, endsAt: event.at }, firing];
  }
  return [firing];
}

function chunkEvents(format: WebhookFormat, events: readonly AlertEvent[], host: string): AlertEvent[][] {
  const limit = format === 'slack' || format === 'discord' ? MAX_TEXT[format] : Infinity;
  const chunks: AlertEvent[][] = [];
  let current: AlertEvent[] = [];
  let chars = 0;
  for (const event of events) {
    const length = describeEvent(event, host).length + 1;
    if (current.length > 0 && (chars + length > limit || current.length >= MAX_EVENTS_PER_POST)) {
      chunks.push(current);
      current = [];
      chars = 0;
    }
    current.push(event);
    chars += length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export interface DeliveryReport {
  format: WebhookFormat;
  target: string;
  delivered: number;
  /** Notifications left in the outbox for the next run. */
  queued: number;
  /** Notifications given up (older than a day, or beyond the outbox bound). */
  dropped: number;
  error: string | null;
  /** A problem with the outbox file itself (corrupt: replaced). */
  outboxProblem: string | null;
}

/** Send the outbox and these new events, oldest first; what fails stays in the outbox. */
export async function deliverNotifications(options: {
  url: string;
  format: WebhookFormat;
  stateDir: string;
  events: readonly AlertEvent[];
  ctx: WebhookContext;
  now: Date;
  timeoutMs?: number;
}): Promise<DeliveryReport> {
  const file = path.join(options.stateDir, OUTBOX_FILE);
  const read = await readJsonState(file);
  let outboxProblem: string | null = null;
  let pending: AlertEvent[] = [];
  if (read.status === 'ok' && Array.isArray((read.data as { events?: unknown })?.events)) {
    pending = (read.data as { events: AlertEvent[] }).events.filter((e) => typeof e?.at === 'string');
  } else if (read.status !== 'missing') {
    outboxProblem = `${file}: ${read.status === 'corrupt' ? read.reason : 'not an outbox document'}; replaced`;
  }
  const hadOutbox = read.status !== 'missing';
  const fresh = pending.filter((e) => options.now.getTime() - Date.parse(e.at) <= OUTBOX_MAX_AGE_MS);
  let all = [...fresh, ...options.events];
  let dropped = pending.length - fresh.length;
  if (all.length > OUTBOX_MAX_ENTRIES) {
    dropped += all.length - OUTBOX_MAX_ENTRIES;
    all = all.slice(-OUTBOX_MAX_ENTRIES);
  }
  const report: DeliveryReport = {
    format: options.format,
    target: describeUrl(options.url, false),
    delivered: 0,
    queued: 0,
    dropped,
    error: null,
    outboxProblem,
  };
  const chunks = chunkEvents(options.format, all, options.ctx.host);
  let sent = 0;
  for (const chunk of chunks) {
    try {
      const answer = await requestUrl(options.url, {
        method: 'POST',
        body: JSON.stringify(buildBody(options.format, chunk, options.ctx)),
        headers: { 'Content-Type': 'application/json' },
        timeoutMs: options.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
      });
      if (answer.status < 200 || answer.status >= 300) throw new Error(`HTTP ${answer.status}`);
    } catch (err) {
      report.error = describeError(err);
      break;
    }
    sent += chunk.length;
  }
  report.delivered = sent;
  const rest = all.slice(sent);
  report.queued = rest.length;
  if (rest.length > 0) await writeJsonState(file, { version: 1, events: rest });
  else if (hadOutbox) await rm(file, { force: true });
  return report;
}
