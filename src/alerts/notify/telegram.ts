/** Telegram Bot API `sendMessage`: the target is `https://api.telegram.org/bot<token>/sendMessage?chat_id=<id>`. */
import { jsonPost, type NotifyFormat } from './format.js';
import { batchLines } from './message.js';

export const telegram: NotifyFormat = {
  name: 'telegram',
  // A message holds at most 4096 characters.
  maxText: 4_000,
  claims: (url) => url.hostname === 'api.telegram.org',
  invalid: (url) => (url.searchParams.get('chat_id') ? null : 'a telegram target needs ?chat_id=<id> in its URL'),
  build: (batch, target) =>
    jsonPost(target, {
      chat_id: new URL(target.url).searchParams.get('chat_id'),
      text: batchLines(batch).join('\n'),
    }),
};
