/** Slack incoming webhook: `{"text": …}`, one line per event. */
import { jsonPost, type NotifyFormat } from './format.js';
import { batchLines } from './message.js';

export const slack: NotifyFormat = {
  name: 'slack',
  // Slack truncates past 40 000 characters.
  maxText: 35_000,
  claims: (url) => url.hostname === 'hooks.slack.com',
  build: (batch, target) => jsonPost(target, { text: batchLines(batch).join('\n') }),
};
