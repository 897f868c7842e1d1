/**
 * Nanosecond timestamps as BigInt. Docker records log times to the nanosecond and its `since`
 * and `until` are both inclusive, so window boundaries must be exact: a JS Date keeps only
 * milliseconds and would make two windows share (or both skip) a line.
 */

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
