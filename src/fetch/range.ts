// Time ranges for mizual-fetch-logs (`--since`, `--until`): parsing the three accepted forms, and
// choosing the archives whose windows can hold lines of a range. An archive named T holds the lines
// from the previous archive's name time up to T plus under a second (names are window ends truncated
// to whole seconds; alert lines stamped with a whole second may follow a window that closed within it).
import { UsageError } from '../core/errors.js';
import { msToNano, parseNanoTime } from '../core/time.js';
import { parseDuration } from '../core/units.js';

export interface TimeRange {
  /** Inclusive bounds, nanoseconds since the epoch. */
  since: bigint;
  until: bigint;
}

const NS_PER_SECOND = 1_000_000_000n;
const FORMS =
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
    throw new UsageError(`${flag} must be ${FORMS} (got '${text}')`);
  }
}

/** The range of `--since`/`--until` (until defaults to now); undefined when neither is given. */
export function parseRange(
  since: string | undefined,
  until: string | undefined,
  nowMs: number = Date.now(),
): TimeRange | undefined {
  if (since === undefined && until === undefined) return undefined;
  if (since === undefined) throw new UsageError(`--until needs --since: ${FORMS}`);
  const from = parseTimeArg(since, '--since', nowMs);
  const to = until === undefined ? msToNano(nowMs) : parseTimeArg(until, '--until', nowMs);
  if (from > to) {
    throw new UsageError(`--since must not be later than --until (got '${since}' after '${until ?? 'now'}')`);
  }
  return { since: from, until: to };
}

/** The UTC dates (`YYYY-MM-DD`) whose folders can hold archives for the range, given the dates that exist. */
export function datesForRange(existing: string[], range: TimeRange): string[] {
  const day = (ns: bigint): string => new Date(Number((ns - NS_PER_SECOND) / 1_000_000n)).toISOString().slice(0, 10);
  const first = day(range.since);
  const last = new Date(Number(range.until / 1_000_000n)).toISOString().slice(0, 10);
  const sorted = [...existing].sort();
  const inside = sorted.filter((d) => d >= first && d <= last);
  // The first archive after the range holds its last lines; it may sit on a later day (a missed run).
  // Not for a host whose first archive comes after the range: a first run's window is short.
  const after = sorted[0] !== undefined && sorted[0] <= last ? sorted.find((d) => d > last) : undefined;
  return after === undefined ? inside : [...inside, after];
}

/**
 * Of one host's archives sorted by name time, those whose window [previous name time, own name time
 * + 1 s) meets the range. The first archive's previous time is unknown and taken as "long before".
 */
export function selectForRange<T extends { end: Date }>(archives: T[], range: TimeRange): T[] {
  const chosen: T[] = [];
  let previous: bigint | undefined;
  for (const archive of archives) {
    const end = msToNano(archive.end.getTime());
    if (end + NS_PER_SECOND > range.since && (previous === undefined || previous <= range.until)) chosen.push(archive);
    previous = end;
  }
  return chosen;
}
