/**
 * What mizual-alerts remembers between runs beyond each check's status (the `trends` of
 * `alerts-state.json`): filesystem usage samples, interface counters, container restart and OOM
 * events, the host's OOM-kill counter. Bounded by time, so a year of runs keeps it as small as a day.
 * mizual-metrics reads it for growth rates, forecasts and restarts in the last hour.
 */
import path from 'node:path';
import { readJsonState } from './state-files.js';

export const ALERT_STATE_FILE = 'alerts-state.json';
export const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Disk samples older than this are dropped: the forecast is the last 24 hours' rate. */
export const DISK_WINDOW_MS = DAY_MS;
/** At most one disk sample per this interval, whatever the cron period (144 a day per filesystem). */
export const DISK_SAMPLE_SPACING_MS = 10 * 60_000;
/** A forecast needs samples spanning at least this long. */
export const DISK_MIN_SPAN_MS = 6 * HOUR_MS;
const DISK_MIN_SAMPLES = 3;

export interface DiskTrend {
  /** [epoch ms, used bytes], oldest first. */
  samples: [number, number][];
}

export interface NetTrend {
  rxBytes: number;
  txBytes: number;
  at: number;
  /** [start ms, end ms, rx bytes, tx bytes] between consecutive runs, those ending within the last hour. */
  intervals: [number, number, number, number][];
}

export interface ContainerTrend {
  id: string;
  restartCount: number;
  finishedAt: string | null;
  /** [epoch ms of the run that saw them, restarts], within the last hour. */
  restarts: [number, number][];
  /** Epoch ms of the runs that saw an OOM kill, within the last hour. */
  ooms: number[];
}

export interface HostTrend {
  bootId: string | null;
  /** `oom_kill` from /proc/vmstat at the last run; null before the first. */
  oomKills: number | null;
  /** [epoch ms, processes killed], within the last hour. */
  ooms: [number, number][];
}

export interface Trends {
  disks: Record<string, DiskTrend>;
  net: Record<string, NetTrend>;
  containers: Record<string, ContainerTrend>;
  host: HostTrend;
}

/** No history, as on the first run. */
export function emptyTrends(): Trends {
  return { disks: {}, net: {}, containers: {}, host: { bootId: null, oomKills: null, ooms: [] } };
}

const isNum = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);
const tuples = <T extends number[]>(raw: unknown, length: number): T[] =>
  Array.isArray(raw) ? (raw.filter((t) => Array.isArray(t) && t.length === length && t.every(isNum)) as T[]) : [];
const records = (raw: unknown): [string, Record<string, unknown>][] =>
  typeof raw === 'object' && raw !== null
    ? (Object.entries(raw).filter(([, v]) => typeof v === 'object' && v !== null) as [
        string,
        Record<string, unknown>,
      ][])
    : [];

/** Validate the `trends` of a stored state leniently: what is malformed is dropped, the rest kept. */
export function toTrends(raw: unknown): Trends {
  const out = emptyTrends();
  if (typeof raw !== 'object' || raw === null) return out;
  const r = raw as Record<string, unknown>;
  for (const [mount, d] of records(r['disks'])) out.disks[mount] = { samples: tuples(d['samples'], 2) };
  for (const [iface, n] of records(r['net'])) {
    if (!isNum(n['rxBytes']) || !isNum(n['txBytes']) || !isNum(n['at'])) continue;
    out.net[iface] = {
      rxBytes: n['rxBytes'],
      txBytes: n['txBytes'],
      at: n['at'],
      intervals: tuples(n['intervals'], 4),
    };
  }
  for (const [name, c] of records(r['containers'])) {
    if (typeof c['id'] !== 'string' || !isNum(c['restartCount'])) continue;
    out.containers[name] = {
      id: c['id'],
      restartCount: c['restartCount'],
      finishedAt: typeof c['finishedAt'] === 'string' ? c['finishedAt'] : null,
      restarts: tuples(c['restarts'], 2),
      ooms: Array.isArray(c['ooms']) ? c['ooms'].filter(isNum) : [],
    };
  }
  const h = (typeof r['host'] === 'object' && r['host'] !== null ? r['host'] : {}) as Record<string, unknown>;
  out.host = {
    bootId: typeof h['bootId'] === 'string' ? h['bootId'] : null,
    oomKills: isNum(h['oomKills']) ? h['oomKills'] : null,
    ooms: tuples(h['ooms'], 2),
  };
  return out;
}

/** The trends mizual-alerts last stored in `stateDir`, or null when there are none (not installed, unreadable). */
export async function readAlertTrends(stateDir: string): Promise<Trends | null> {
  const read = await readJsonState(path.join(stateDir, ALERT_STATE_FILE));
  if (read.status !== 'ok' || typeof read.data !== 'object' || read.data === null) return null;
  const trends = (read.data as { trends?: unknown }).trends;
  return trends === undefined ? null : toTrends(trends);
}

/** Sum of the counts of [epoch ms, count] events within the last windowMs. */
export function sumWithin(events: readonly (readonly [number, number])[], nowMs: number, windowMs = HOUR_MS): number {
  return events.reduce((sum, [at, n]) => (nowMs - at < windowMs ? sum + n : sum), 0);
}

/** Least-squares line through (x, y) points; null with fewer than two distinct x. */
export function fitLine(points: readonly (readonly [number, number])[]): { slope: number; intercept: number } | null {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) * (x - mx);
    sxy += (x - mx) * (y - my);
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

export type DiskForecast =
  | { enough: false; spanMs: number; samples: number }
  | {
      enough: true;
      spanMs: number;
      samples: number;
      /** Fitted growth of used bytes per day (negative when shrinking). */
      bytesPerDay: number;
      /** When the available space runs out at that rate; null when not growing. */
      fullAtMs: number | null;
      daysLeft: number | null;
    };

/**
 * Forecast a filesystem from the stored samples of the last 24 hours plus the current reading:
 * the least-squares growth rate, and when the available space is used up at that rate.
 */
export function forecastDisk(
  samples: readonly (readonly [number, number])[],
  current: { usedBytes: number; availableBytes: number },
  nowMs: number,
): DiskForecast {
  const recent = samples.filter(([at]) => nowMs - at <= DISK_WINDOW_MS && at < nowMs);
  // Days relative to now keep the sums well inside double precision.
  const points: [number, number][] = [...recent, [nowMs, current.usedBytes] as [number, number]].map(([at, used]) => [
    (at - nowMs) / DAY_MS,
    used,
  ]);
  const spanMs = recent.length > 0 ? nowMs - (recent[0] as [number, number])[0] : 0;
  if (spanMs < DISK_MIN_SPAN_MS || points.length < DISK_MIN_SAMPLES) {
    return { enough: false, spanMs, samples: points.length };
  }
  const line = fitLine(points);
  const bytesPerDay = line ? line.slope : 0;
  // Less than a byte an hour is noise from the filesystem's own bookkeeping, not growth.
  const growing = bytesPerDay > 24;
  const daysLeft = growing ? current.availableBytes / bytesPerDay : null;
  return {
    enough: true,
    spanMs,
    samples: points.length,
    bytesPerDay,
    fullAtMs: daysLeft === null ? null : nowMs + daysLeft * DAY_MS,
    daysLeft,
  };
}
