/** The human text of a notification, shared by the chat, push and mail formats. */
import type { AlertEvent } from '../state.js';
import type { Batch } from './format.js';

const ICONS: Record<AlertEvent['severity'] | 'TEST', string> = {
  CRITICAL: '🔴',
  WARNING: '🟠',
  RESOLVED: '✅',
  TEST: '🧪',
};

export const TEST_TEXT = 'a test notification from mizual-alerts --test-notification; nothing is wrong';

/** One line per event: `🔴 CRITICAL disk:/ on web-1: disk / 93.1% used (threshold 90%)`. */
export function describeEvent(event: AlertEvent, host: string, icon = true): string {
  const reminder = event.reminder ? ' (reminder)' : '';
  const text = `${event.severity}${reminder} ${event.check} on ${host}: ${event.message}`;
  return icon ? `${ICONS[event.severity]} ${text}` : text;
}

/** The lines of a batch (the test line for a test). */
export function batchLines(batch: Batch, icon = true): string[] {
  if (batch.test) return [`${icon ? `${ICONS.TEST} ` : ''}TEST on ${batch.host}: ${TEST_TEXT}`];
  return batch.events.map((e) => describeEvent(e, batch.host, icon));
}

/** The worst severity of a batch (RESOLVED when all are), or TEST. */
export function batchSeverity(batch: Batch): AlertEvent['severity'] | 'TEST' {
  if (batch.test) return 'TEST';
  if (batch.events.some((e) => e.severity === 'CRITICAL')) return 'CRITICAL';
  if (batch.events.some((e) => e.severity === 'WARNING')) return 'WARNING';
  return 'RESOLVED';
}

/** A short title: `web-1: CRITICAL disk:/`, `web-1: 3 alerts (CRITICAL)`, `web-1: test notification`. */
export function batchTitle(batch: Batch): string {
  if (batch.test) return `mizual-alerts on ${batch.host}: test notification`;
  const [only] = batch.events;
  if (batch.events.length === 1 && only) return `${batch.host}: ${only.severity} ${only.check}`;
  return `${batch.host}: ${batch.events.length} alerts (${batchSeverity(batch)})`;
}
