/** ntfy (ntfy.sh or a self-hosted server): the text as a plain body, with Title, Priority and Tags headers. */
import type { NotifyFormat } from './format.js';
import { batchLines, batchSeverity, batchTitle } from './message.js';

// ntfy priorities 1-5 (min, low, default, high, urgent) and its emoji shortcodes for tags.
const PRIORITY = { CRITICAL: '5', WARNING: '4', RESOLVED: '3', TEST: '3' } as const;
const TAGS = {
  CRITICAL: 'rotating_light',
  WARNING: 'warning',
  RESOLVED: 'white_check_mark',
  TEST: 'test_tube',
} as const;

export const ntfy: NotifyFormat = {
  name: 'ntfy',
  // Past 4096 bytes ntfy turns a message into an attachment.
  maxText: 3_500,
  claims: (url) => url.hostname === 'ntfy.sh',
  build: (batch, target) => {
    const severity = batchSeverity(batch);
    return {
      kind: 'http',
      url: target.url,
      headers: {
        'Content-Type': 'text/plain; charset=utf-8',
        // Header values must be plain ASCII.
        Title: batchTitle(batch).replace(/[^\x20-\x7e]/g, '?'),
        Priority: PRIORITY[severity],
        Tags: TAGS[severity],
      },
      body: batchLines(batch, false).join('\n'),
    };
  },
};
