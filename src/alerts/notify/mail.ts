/** E-mail: `mailto:ADDRESS[,ADDRESS]`, handed to the system's `sendmail -t` (what monit and cron use). */
import type { NotifyFormat } from './format.js';
import { batchLines, batchTitle } from './message.js';

export const mail: NotifyFormat = {
  name: 'mail',
  maxText: 200_000,
  build: (batch, target) => {
    const recipients = mailRecipients(target.url);
    const subject = encodeHeader(`[mizual] ${batchTitle(batch)}`);
    const headers = [
      `To: ${recipients.join(', ')}`,
      `Subject: ${subject}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      'Auto-Submitted: auto-generated',
    ];
    const body = batchLines(batch, false).join('\n');
    return { kind: 'mail', recipients, message: `${headers.join('\n')}\n\n${body}\n` };
  },
};

const ADDRESS = /^[^\s@,<>()"\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/;

/** The addresses of a `mailto:` target (its query, if any, ignored); throws on one that is not an address. */
export function mailRecipients(target: string): string[] {
  const list = decodeURIComponent(target.slice('mailto:'.length).split('?')[0] ?? '');
  const addresses = list
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (addresses.length === 0 || !addresses.every((a) => ADDRESS.test(a))) {
    throw new Error('a mailto: target needs one or more comma-separated addresses (mailto:ops@example.com)');
  }
  return addresses;
}

/** A header value on one line; RFC 2047 encoded words (at most 75 characters each) when it is not plain ASCII. */
function encodeHeader(value: string): string {
  const line = value.replace(/[\r\n]+/g, ' ');
  if (/^[\x20-\x7e]*$/.test(line)) return line;
  // 45 bytes of UTF-8 make 60 characters of base64; a character is never split across two words.
  const words: string[] = [];
  let chunk = '';
  for (const ch of line) {
    if (Buffer.byteLength(chunk + ch) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\n ');
}
