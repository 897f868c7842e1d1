/** Our own JSON document: every field of each event, for a receiver of your own. */
import { jsonPost, type NotifyFormat } from './format.js';
import { TEST_TEXT } from './message.js';

export const json: NotifyFormat = {
  name: 'json',
  maxText: Infinity,
  build: (batch, target) =>
    jsonPost(target, {
      source: 'mizual-alerts',
      host: batch.host,
      ...(batch.test ? { test: true, message: TEST_TEXT } : {}),
      alerts: batch.events.map((e) => ({
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
    }),
};
