/** Discord webhook: `{"content": …}`, one line per event. */
import { jsonPost, type NotifyFormat } from './format.js';
import { batchLines } from './message.js';

export const discord: NotifyFormat = {
  name: 'discord',
  // Discord rejects content over 2000 characters.
  maxText: 1_900,
  claims: (url) => /(^|\.)discord(app)?\.com$/.test(url.hostname),
  build: (batch, target) => jsonPost(target, { content: batchLines(batch).join('\n') }),
};
