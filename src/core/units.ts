import { UsageError } from './errors.js';

const DURATION_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration text, or undefined when it is not one. */
function durationMs(text: string): number | undefined {
  const trimmed = text.trim();
  const re = /(\d+(?:\.\d+)?)([smhd])/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    consumed = re.lastIndex;
  }
  return trimmed === '' || consumed !== trimmed.length || !(total > 0) ? undefined : total;
}

/**
 * The default bound of every duration: 24 days, under the longest delay a Node timer can wait
 * (2^31 - 1 ms, 24.8 days; past it `setTimeout` fires at once). A flag that is a span, not a wait,
 * passes its own larger bound.
 */
export const MAX_DURATION = '24d';

/**
 * Parse a duration such as `30m`, `1h`, `90s`, `2d` or `1h30m` into milliseconds, at most `max` (a
 * duration text, said in the error).
 */
export function parseDuration(text: string, what = 'duration', max = MAX_DURATION): number {
  const total = durationMs(text);
  if (total === undefined) throw new UsageError(`${what} must look like 30m, 1h, 90s or 2d (got '${text}')`);
  if (total > (durationMs(max) as number)) throw new UsageError(`${what} must be at most ${max} (got '${text}')`);
  return total;
}

/** Parse a percentage threshold in (0, 100]. */
export function parsePercent(text: string, what: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || value > 100) {
    throw new UsageError(`${what} must be a number above 0 and at most 100 (got '${text}')`);
  }
  return value;
}

/** Parse a positive integer, at most `max` when given, naming the setting in the error. */
export function parsePositiveInt(text: string, what: string, max?: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) <= 0) {
    throw new UsageError(`${what} must be a positive whole number (got '${text}')`);
  }
  if (max !== undefined && Number(text) > max) throw new UsageError(`${what} must be at most ${max} (got '${text}')`);
  return Number(text);
}

/** Parse a number above 0 (decimals allowed), naming the setting in the error. */
export function parsePositiveNumber(text: string, what: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${what} must be a number above 0 (got '${text}')`);
  }
  return value;
}

/** Format a byte count in binary units, e.g. `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const sign = bytes < 0 ? '-' : '';
  return `${sign}${unit === 0 ? value.toFixed(0) : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Format seconds as `3d 4h 12m`. */
export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3_600);
  const m = Math.floor((seconds % 3_600) / 60);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m`;
}

/**
 * The share of elapsed CPU time that was busy between two readings of cumulative counters (host ticks
 * from /proc/stat, or a container's CPU ns against system ns); null when no time passed or a counter
 * went backwards (a reset), so callers never show a made-up figure.
 */
export function busyShare(
  before: { busy: number; total: number },
  after: { busy: number; total: number },
): number | null {
  const total = after.total - before.total;
  const busy = after.busy - before.busy;
  if (!(total > 0) || busy < 0) return null;
  return busy / total;
}
