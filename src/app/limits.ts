import { UsageError } from '../core/errors.js';
import { parseDuration } from '../core/units.js';
import { parseDurationText } from './logs/formats.js';

/** The thresholds of the application checks (mizual-alerts flags), also used to colour the dashboard. */
export interface AppLimits {
  /** `--error-rate`: percent of 5xx responses. */
  errorRatePercent: number;
  /** `--min-requests`: fewer requests in the window are not judged. */
  minRequests: number;
  /** `--latency`: p95 in seconds. */
  latencySeconds: number;
  /** `--task-failures`: percent of a task's runs that failed (of at least MIN_TASKS). */
  taskFailuresPercent: number;
}

export const DEFAULT_APP_LIMITS: AppLimits = {
  errorRatePercent: 5,
  minRequests: 20,
  latencySeconds: 2,
  taskFailuresPercent: 10,
};

/** A task is judged once this many of its runs ended (succeeded or failed) in the window. */
export const MIN_TASKS = 5;

/** `--app-window` default. */
export const DEFAULT_APP_WINDOW = '5m';

/** The failed share of a task's finished runs, 0–1, or null below MIN_TASKS. */
export function taskFailureShare(t: { succeeded: number; failed: number }): number | null {
  const n = t.succeeded + t.failed;
  return n < MIN_TASKS ? null : t.failed / n;
}

/** `--app-window`: a duration up to a day (minute buckets are kept that long at most). */
export function parseAppWindow(text: string): number {
  const ms = parseDuration(text, '--app-window');
  if (ms > 86_400_000) throw new UsageError(`--app-window must be at most 24h (got '${text}')`);
  return ms;
}

/** `--latency`: `2s`, `500ms`, `1.5` (seconds); returns seconds. */
export function parseLatency(text: string): number {
  const s = parseDurationText(text);
  if (s === null || s <= 0) throw new UsageError(`--latency must look like 2s or 500ms (got '${text}')`);
  return s;
}
