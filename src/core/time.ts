/**
 * Nanosecond timestamps as BigInt. Docker records log times to the nanosecond and its `since`
 * and `until` are both inclusive, so window boundaries must be exact: a JS Date keeps only
 * milliseconds and would make two windows share (or both skip) a line.
 */
import { UsageError } from './errors.js';
import { parseDuration } from './units.js';

const NS_PER_SECOND = 1_000_000_000n;
const NS_PER_MS = 1_000_000n;
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** Nanoseconds since the epoch of an RFC 3339 time (fraction up to 9 digits); throws on anything else. */
export function parseNanoTime(text: string): bigint {
  const match = RFC3339.exec(text.trim());
  const ms = match ? Date.parse(`${match[1]}${match[3]}`) : NaN;
  if (!match || Number.isNaN(ms)) throw new RangeError(`not an RFC 3339 time: '${text}'`);
  return BigInt(ms) * NS_PER_MS + BigInt((match[2] ?? '').padEnd(9, '0'));
}

/** `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC, always nine fraction digits, as Docker prints its timestamps). */
export function formatNanoTime(ns: bigint): string {
  const seconds = floorDiv(ns, NS_PER_SECOND);
  const fraction = ns - seconds * NS_PER_SECOND;
  const whole = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${whole}.${fraction.toString().padStart(9, '0')}Z`;
}

/** The Engine API's `since`/`until` form: `<seconds>.<nine digits>`. */
export function toDockerBound(ns: bigint): string {
  const seconds = floorDiv(ns, NS_PER_SECOND);
  return `${seconds}.${(ns - seconds * NS_PER_SECOND).toString().padStart(9, '0')}`;
}

/** Nanoseconds for a millisecond count. */
export function msToNano(ms: number): bigint {
  return BigInt(Math.floor(ms)) * NS_PER_MS;
}

/** The Date of a nanosecond time (milliseconds truncated). */
export function nanoToDate(ns: bigint): Date {
  return new Date(Number(floorDiv(ns, NS_PER_MS)));
}

/** Truncate to whole seconds (archive names carry whole seconds, so windows end on one). */
export function truncateToSecond(ns: bigint): bigint {
  return floorDiv(ns, NS_PER_SECOND) * NS_PER_SECOND;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/**
 * A leading ISO 8601 / RFC 3339 time, as Docker, our alert log and most applications write it: `T` or a
 * space, `.` or `,` before up to nine fraction digits, then `Z`, an offset (`+01:00`, `+0100`), ` UTC`,
 * or nothing (read as UTC). Optionally in brackets. It must be followed by a space or end the text.
 */
const LEADING_ISO =
  /^\[?(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2}| ?UTC)?\]?(?:\s|$)/i;
/**
 * `date`'s default output, as the old shell scripts wrote it: `[Thu Jan 23 14:30:00 UTC 2025]`. Only UTC
 * and GMT are read: any other zone name (`CET`, `EST`) is ambiguous, so such a line counts as untimed
 * rather than being misplaced by hours.
 */
const LEADING_DATE_CMD =
  /^\[?(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (?:(UTC|GMT) )?(\d{4})\]?(?:\s|$)/;

/**
 * Nanoseconds since the epoch of the time a line starts with (either form above), or undefined when
 * it starts with none. The one rule for every reader of log and alert lines.
 */
export function parseLeadingTime(line: string | Buffer): bigint | undefined {
  const head = typeof line === 'string' ? line.slice(0, 64) : line.subarray(0, 64).toString('latin1');
  const iso = LEADING_ISO.exec(head);
  if (iso) {
    const [y, mo, d, h, mi, s] = iso.slice(1, 7).map(Number) as number[];
    let ms = Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
    const zone = (iso[8] ?? '').trim().toUpperCase();
    const offset = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
    if (offset) ms -= (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3])) * 60_000;
    if (Number.isNaN(ms) || new Date(Date.UTC(y as number, (mo as number) - 1, d)).getUTCDate() !== d) return undefined;
    return BigInt(ms) * NS_PER_MS + BigInt((iso[7] ?? '').padEnd(9, '0'));
  }
  const old = LEADING_DATE_CMD.exec(head);
  if (!old) return undefined;
  // Without a zone name `date` printed local time; the old servers ran in UTC.
  const [day, h, mi, s, year] = [old[2], old[3], old[4], old[5], old[7]].map(Number) as number[];
  const ms = Date.UTC(year as number, MONTHS.indexOf(old[1] as string), day, h, mi, s);
  return Number.isNaN(ms) ? undefined : BigInt(ms) * NS_PER_MS;
}

/** Nanoseconds to whole milliseconds since the epoch (floored). */
export function nanoToMs(ns: bigint): number {
  return Number(floorDiv(ns, NS_PER_MS));
}

/** The accepted forms of a `--since`/`--until` time, for usage errors. */
export const TIME_FORMS =
  "RFC 3339 (2025-01-23T23:40:00Z), 'YYYY-MM-DD HH:MM[:SS]' in UTC, or a duration back from now (2h, 90m, 3d)";
const PLAIN_UTC = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(:\d{2})?$/;

/** One `--since`/`--until` value in nanoseconds; a usage error naming the expected forms otherwise. */
export function parseTimeArg(text: string, flag: string, nowMs: number): bigint {
  const trimmed = text.trim();
  // A span back from now, not a wait: up to a century.
  if (/^\d/.test(trimmed) && /[smhd]$/.test(trimmed) && !trimmed.includes('-')) {
    return msToNano(nowMs - parseDuration(trimmed, flag, '36500d'));
  }
  try {
    const plain = PLAIN_UTC.exec(trimmed);
    const ns = parseNanoTime(plain ? `${plain[1]}T${plain[2]}${plain[3] ?? ':00'}Z` : trimmed);
    // Date.parse rolls 2025-02-30 over to March; refuse what is not a real calendar time.
    const iso = new Date(Number(ns / 1_000_000n)).toISOString();
    if (plain && iso.slice(0, 16) !== `${plain[1]}T${plain[2]}`) throw new RangeError('not a calendar time');
    return ns;
  } catch {
    throw new UsageError(`${flag} must be ${TIME_FORMS} (got '${text}')`);
  }
}
