/**
 * Alert notifications to every target of MIZUAL_ALERT_WEBHOOK_URL. Each target has its own outbox
 * in `<stateDir>/alerts-outbox.json`: what it did not accept goes out first on the next run, and a
 * failing target never holds up the others. Entries older than a day (or beyond the bound) are
 * dropped and counted so the caller can log it.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describeError } from '../../core/errors.js';
import { readJsonState, writeJsonState } from '../../core/state-files.js';
import type { AlertEvent } from '../state.js';
import type { Batch, NotifyFormat, Outgoing } from './format.js';
import { MAIL_FORMAT, URL_FORMATS } from './formats.js';
import { batchLines } from './message.js';
import { sendOutgoing } from './send.js';
import { maskAddresses, type Target } from './targets.js';

export const OUTBOX_FILE = 'alerts-outbox.json';
export const OUTBOX_MAX_AGE_MS = 86_400_000;
export const OUTBOX_MAX_ENTRIES = 500;
const TIMEOUT_MS = { http: 5_000, mail: 30_000 };
const MAX_EVENTS_PER_MESSAGE = 100;

export interface NotifyContext {
  host: string;
  repeatMs: number;
  now: Date;
}

export interface TargetDelivery {
  target: string;
  format: string;
  delivered: number;
  /** Notifications left in this target's outbox for the next run. */
  queued: number;
  /** Notifications given up (older than a day, or beyond the outbox bound). */
  dropped: number;
  error: string | null;
}

export interface DeliveryReport {
  targets: TargetDelivery[];
  delivered: number;
  dropped: number;
  /** A problem with the outbox file itself (corrupt: replaced). */
  outboxProblem: string | null;
}

function formatOf(target: Target): NotifyFormat {
  if (target.format === MAIL_FORMAT.name) return MAIL_FORMAT;
  return URL_FORMATS.find((f) => f.name === target.format) ?? URL_FORMATS[URL_FORMATS.length - 1]!;
}

/** The messages for these events (several when one would grow past the format's size); a test is one message. */
export function buildMessages(target: Target, batch: Omit<Batch, 'events'>, events: readonly AlertEvent[]): Outgoing[] {
  const format = formatOf(target);
  if (batch.test) return [format.build({ ...batch, events: [] }, target)];
  return chunkEvents(format, events, batch.host).map((chunk) => format.build({ ...batch, events: chunk }, target));
}

function chunkEvents(format: NotifyFormat, events: readonly AlertEvent[], host: string): AlertEvent[][] {
  const chunks: AlertEvent[][] = [];
  let current: AlertEvent[] = [];
  let chars = 0;
  for (const event of events) {
    const length =
      (batchLines({ host, events: [event], test: false, now: new Date(0), repeatMs: 0 })[0] ?? '').length + 1;
    if (current.length > 0 && (chars + length > format.maxText || current.length >= MAX_EVENTS_PER_MESSAGE)) {
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

/** Send each target its outbox and these new events, oldest first; what a target refuses stays in its outbox. */
export async function deliverNotifications(options: {
  targets: readonly Target[];
  stateDir: string;
  events: readonly AlertEvent[];
  ctx: NotifyContext;
}): Promise<DeliveryReport> {
  const file = path.join(options.stateDir, OUTBOX_FILE);
  const { pending, problem, existed } = await readOutbox(file, options.targets);
  const now = options.ctx.now.getTime();
  const kept: Record<string, AlertEvent[]> = {};
  const targets = await Promise.all(
    options.targets.map(async (target): Promise<TargetDelivery> => {
      const waiting = pending[target.id] ?? [];
      const fresh = waiting.filter((e) => now - Date.parse(e.at) <= OUTBOX_MAX_AGE_MS);
      let all = [...fresh, ...options.events];
      let dropped = waiting.length - fresh.length;
      if (all.length > OUTBOX_MAX_ENTRIES) {
        dropped += all.length - OUTBOX_MAX_ENTRIES;
        all = all.slice(-OUTBOX_MAX_ENTRIES);
      }
      const format = formatOf(target);
      let sent = 0;
      let error: string | null = null;
      for (const chunk of chunkEvents(format, all, options.ctx.host)) {
        try {
          const out = format.build({ ...options.ctx, events: chunk, test: false }, target);
          await sendOutgoing(out, TIMEOUT_MS[out.kind]);
        } catch (err) {
          error = maskAddresses(describeError(err));
          break;
        }
        sent += chunk.length;
      }
      const rest = all.slice(sent);
      if (rest.length > 0) kept[target.id] = rest;
      return { target: target.display, format: target.format, delivered: sent, queued: rest.length, dropped, error };
    }),
  );
  if (Object.keys(kept).length > 0) await writeJsonState(file, { version: 2, targets: kept });
  else if (existed) await rm(file, { force: true });
  return {
    targets,
    delivered: targets.reduce((n, t) => n + t.delivered, 0),
    dropped: targets.reduce((n, t) => n + t.dropped, 0),
    outboxProblem: problem,
  };
}

/** Each target's waiting events; the single-target outbox of earlier versions is owed to every target. */
async function readOutbox(
  file: string,
  targets: readonly Target[],
): Promise<{ pending: Record<string, AlertEvent[]>; problem: string | null; existed: boolean }> {
  const read = await readJsonState(file);
  if (read.status === 'missing') return { pending: {}, problem: null, existed: false };
  const valid = (list: unknown): AlertEvent[] =>
    Array.isArray(list) ? (list as AlertEvent[]).filter((e) => typeof e?.at === 'string') : [];
  if (read.status === 'ok') {
    const data = read.data as { version?: unknown; events?: unknown; targets?: unknown };
    if (data?.version === 1 && Array.isArray(data.events)) {
      return {
        pending: Object.fromEntries(targets.map((t) => [t.id, valid(data.events)])),
        problem: null,
        existed: true,
      };
    }
    if (data?.version === 2 && data.targets && typeof data.targets === 'object') {
      const byId = data.targets as Record<string, unknown>;
      return {
        pending: Object.fromEntries(targets.map((t) => [t.id, valid(byId[t.id])])),
        problem: null,
        existed: true,
      };
    }
  }
  const why = read.status === 'corrupt' ? read.reason : 'not an outbox document';
  return { pending: {}, problem: `${file}: ${why}; replaced`, existed: true };
}

export interface TestAnswer {
  target: string;
  format: string;
  ok: boolean;
  /** `HTTP 200`, `sendmail exit 0`, or why it failed. */
  answer: string;
}

/** Send every target one message saying it is a test, all at once; touches no outbox, log or state. */
export async function sendTestNotification(targets: readonly Target[], ctx: NotifyContext): Promise<TestAnswer[]> {
  return Promise.all(
    targets.map(async (target) => {
      try {
        const [out] = buildMessages(target, { ...ctx, test: true }, []);
        const answer = out ? await sendOutgoing(out, TIMEOUT_MS[out.kind]) : 'nothing to send';
        return { target: target.display, format: target.format, ok: true, answer };
      } catch (err) {
        return { target: target.display, format: target.format, ok: false, answer: maskAddresses(describeError(err)) };
      }
    }),
  );
}
