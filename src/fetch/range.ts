// Time ranges for mizual-fetch-logs (`--since`, `--until`): parsing the three accepted forms, and
// choosing the archives whose windows can hold lines of a range. An archive named T holds the lines
// from the previous archive's name time up to T plus under a second (names are window ends truncated
// to whole seconds; alert lines stamped with a whole second may follow a window that closed within it).
import { UsageError } from '../core/errors.js';
import { msToNano, parseTimeArg, TIME_FORMS as FORMS } from '../core/time.js';

export { parseTimeArg };

export interface TimeRange {
  /** Inclusive bounds, nanoseconds since the epoch. */
  since: bigint;
  until: bigint;
}

const NS_PER_SECOND = 1_000_000_000n;
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
