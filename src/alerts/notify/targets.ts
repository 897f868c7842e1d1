/**
 * The targets of MIZUAL_ALERT_WEBHOOK_URL (whitespace-separated URLs and mailto: lists), each with
 * its format, a stable id for its outbox and a name safe to print.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../../core/errors.js';
import { MAIL_FORMAT, URL_FORMATS } from './formats.js';
import { mailRecipients } from './mail.js';

export interface Target {
  /** What is sent to: the URL without its fragment, or the `mailto:` text. */
  url: string;
  format: string;
  /** The target as it may be printed: tokens, webhook paths and address local parts masked. */
  display: string;
  /** A stable key for this target's outbox (a hash: the URL itself holds secrets). */
  id: string;
}

export const FORMAT_NAMES = URL_FORMATS.map((f) => f.name);

/** Parse MIZUAL_ALERT_WEBHOOK_URL; `defaultFormat` is MIZUAL_ALERT_WEBHOOK_FORMAT. Bad input is a UsageError naming the target. */
export function parseTargets(raw: string | undefined, defaultFormat: string | undefined): Target[] {
  const fallback = defaultFormat?.trim().toLowerCase() || undefined;
  if (fallback !== undefined && !FORMAT_NAMES.includes(fallback)) {
    throw new UsageError(
      `MIZUAL_ALERT_WEBHOOK_FORMAT must be one of ${FORMAT_NAMES.join(', ')} (got '${defaultFormat}')`,
    );
  }
  const targets: Target[] = [];
  for (const [i, text] of (raw ?? '')
    .split(/\s+/)
    .filter((t) => t !== '')
    .entries()) {
    const target = parseTarget(text, fallback, i + 1);
    if (!targets.some((t) => t.id === target.id)) targets.push(target);
  }
  return targets;
}

function parseTarget(text: string, fallback: string | undefined, n: number): Target {
  const where = `MIZUAL_ALERT_WEBHOOK_URL target ${n}`;
  if (/^mailto:/i.test(text)) {
    const url = `mailto:${text.slice('mailto:'.length)}`;
    let recipients: string[];
    try {
      recipients = mailRecipients(url);
    } catch (err) {
      throw new UsageError(`${where}: ${(err as Error).message}`);
    }
    return { url, format: MAIL_FORMAT.name, display: `mailto:${recipients.map(maskAddress).join(',')}`, id: idOf(url) };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${where} is not a URL or mailto: address`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`${where} must start with https://, http:// or mailto: (got '${url.protocol}')`);
  }
  const fragment = /^format=(.*)$/.exec(decodeURIComponent(url.hash.slice(1)));
  url.hash = '';
  const named = fragment?.[1]?.trim().toLowerCase();
  if (named !== undefined && !FORMAT_NAMES.includes(named)) {
    throw new UsageError(`${where}: #format= must be one of ${FORMAT_NAMES.join(', ')} (got '${fragment?.[1]}')`);
  }
  const format =
    URL_FORMATS.find((f) => f.name === named) ??
    URL_FORMATS.find((f) => f.claims?.(url) && f.name !== 'alertmanager') ??
    URL_FORMATS.find((f) => f.name === fallback) ??
    URL_FORMATS.find((f) => f.claims?.(url)) ??
    URL_FORMATS.find((f) => f.name === 'json');
  const display = maskUrl(url, format?.name);
  const problem = format?.invalid?.(url);
  if (problem) throw new UsageError(`${where} (${display}): ${problem}`);
  return { url: url.href, format: format?.name ?? 'json', display, id: idOf(url.href) };
}

/** `https://hooks.slack.com/***`: the path of a webhook is its secret; a bot token too. */
function maskUrl(url: URL, format: string | undefined): string {
  const base = `${url.protocol}//${url.host}`;
  if (format === 'telegram') return `${base}/bot***/${url.pathname.split('/').pop() ?? ''}`;
  if (format === 'alertmanager') return `${base}${url.pathname}`;
  return url.pathname === '/' || url.pathname === '' ? base : `${base}/***`;
}

/** `***@example.com`. */
export function maskAddress(address: string): string {
  return `***@${address.split('@').pop() ?? ''}`;
}

/** Mask every e-mail address in a text (a sendmail error may quote one). */
export function maskAddresses(text: string): string {
  return text.replace(/[^\s@<>(),;:"']+@([A-Za-z0-9.-]+)/g, '***@$1');
}

function idOf(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
}
