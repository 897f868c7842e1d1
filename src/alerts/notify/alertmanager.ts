/** Alertmanager API v2 (`POST /api/v2/alerts`): a list of postable alerts labelled like the Prometheus rules. */
import { alertName } from '../alert-name.js';
import type { AlertEvent } from '../state.js';
import { jsonPost, type Batch, type NotifyFormat } from './format.js';
import { TEST_TEXT } from './message.js';

// A test alert fires briefly and expires by itself.
const TEST_ALERT_MS = 5 * 60_000;

export const alertmanager: NotifyFormat = {
  name: 'alertmanager',
  maxText: Infinity,
  claims: (url) => url.pathname.endsWith('/api/v2/alerts'),
  build: (batch, target) => {
    if (batch.test) {
      const now = batch.now.getTime();
      return jsonPost(target, [
        {
          labels: { alertname: 'MizualTestNotification', severity: 'none', instance: batch.host, job: 'mizual-alerts' },
          annotations: { summary: TEST_TEXT },
          startsAt: new Date(now).toISOString(),
          endsAt: new Date(now + TEST_ALERT_MS).toISOString(),
        },
      ]);
    }
    return jsonPost(
      target,
      batch.events.flatMap((e) => toPostable(e, batch)),
    );
  },
};

/** The labels identify an alert, so RESOLVED reuses the severity that cleared. */
function toPostable(event: AlertEvent, batch: Batch): unknown[] {
  const labels = (severity: string) => ({
    alertname: alertName(event.check),
    check: event.check,
    severity,
    instance: batch.host,
    job: 'mizual-alerts',
  });
  const annotations = { summary: `${event.check}: ${event.message}` };
  if (event.severity === 'RESOLVED') {
    return [{ labels: labels(event.previous), annotations, startsAt: event.since, endsAt: event.at }];
  }
  // A firing alert expires on its own unless re-sent: the reminder every --repeat re-sends it.
  const endsAt = new Date(Date.parse(event.at) + batch.repeatMs + 15 * 60_000).toISOString();
  const severity = event.severity.toLowerCase();
  const firing = { labels: labels(severity), annotations, startsAt: event.since, endsAt };
  if (event.previous !== 'ok' && event.previous !== severity) {
    // warning → critical (or back) is a different label set: end the old one.
    return [{ labels: labels(event.previous), annotations, startsAt: event.since, endsAt: event.at }, firing];
  }
  return [firing];
}
