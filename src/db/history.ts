/**
 * What mizual-alerts runs keep about the database in `<stateDir>/db-state.json` (0600, atomic): bounded
 * snapshots of pg_stat_statements' counters, so figures cover a window instead of "since the last
 * reset", and size samples for the growth per day. Bounded by count and age: every snapshot of the
 * last 2 hours, one per hour back to 27 hours; one size sample per 30 minutes for 8 days.
 */
import path from 'node:path';
import { readJsonState, writeJsonState } from '../core/state-files.js';
import { fitLine } from '../core/trends.js';

export const DB_STATE_FILE = 'db-state.json';
const HOUR = 3_600_000;
/** Statements kept per snapshot (the most expensive since reset); the rest are marked as not kept. */
export const SNAPSHOT_ROWS = 200;

/** calls, total execution milliseconds, rows: cumulative since pg_stat_statements' last reset. */
export type Counters = [number, number, number];

export interface StatementSnapshot {
  at: number;
  /** Every statement of the database is in `rows` (none left out by SNAPSHOT_ROWS). */
  complete: boolean;
  rows: Record<string, Counters>;
}

export interface DbHistory {
  version: 1;
  /** host:port/database these samples are of; another target starts afresh. */
  target: string;
  statements: StatementSnapshot[];
  /** [epoch ms, database size in bytes]. */
  sizes: [number, number][];
}

export function emptyHistory(target: string): DbHistory {
  return { version: 1, target, statements: [], sizes: [] };
}

/** The kept history for this target; missing, corrupt or another target's gives an empty one. */
export async function readDbHistory(stateDir: string, target: string): Promise<DbHistory> {
  const read = await readJsonState(path.join(stateDir, DB_STATE_FILE));
  if (read.status !== 'ok') return emptyHistory(target);
  const d = read.data as Partial<DbHistory> | null;
  if (!d || d.version !== 1 || d.target !== target || !Array.isArray(d.statements) || !Array.isArray(d.sizes)) {
    return emptyHistory(target);
  }
  return {
    version: 1,
    target,
    statements: d.statements.filter((s) => typeof s?.at === 'number' && s.rows && typeof s.rows === 'object'),
    sizes: d.sizes.filter((s) => Array.isArray(s) && typeof s[0] === 'number' && typeof s[1] === 'number'),
  };
}

export async function writeDbHistory(stateDir: string, history: DbHistory): Promise<void> {
  await writeJsonState(path.join(stateDir, DB_STATE_FILE), history);
}

/** Add this run's counters (the SNAPSHOT_ROWS most expensive) and thin the older snapshots. */
export function addSnapshot(history: DbHistory, current: Map<string, Counters>, nowMs: number): DbHistory {
  const sorted = [...current].sort((a, b) => b[1][1] - a[1][1]);
  const rows = Object.fromEntries(sorted.slice(0, SNAPSHOT_ROWS));
  const all = [
    ...history.statements.filter((s) => s.at < nowMs),
    { at: nowMs, complete: sorted.length <= SNAPSHOT_ROWS, rows },
  ];
  const kept: StatementSnapshot[] = [];
  const hours = new Set<number>();
  for (const snap of all) {
    const age = nowMs - snap.at;
    if (age > 27 * HOUR) continue;
    if (age <= 2 * HOUR) kept.push(snap);
    else if (!hours.has(Math.floor(snap.at / HOUR))) {
      hours.add(Math.floor(snap.at / HOUR));
      kept.push(snap);
    }
  }
  return { ...history, statements: kept };
}

/** Add a size sample (at most one per 30 minutes) and drop those older than 8 days. */
export function addSizeSample(history: DbHistory, bytes: number, nowMs: number): DbHistory {
  const sizes = history.sizes.filter(([at]) => nowMs - at <= 8 * 24 * HOUR && at < nowMs);
  const last = sizes.at(-1);
  if (!last || nowMs - last[0] >= 30 * 60_000) sizes.push([nowMs, bytes]);
  return { ...history, sizes };
}

/** Growth in bytes per day over the kept samples of the last 7 days and now; null before 6 hours of them. */
export function growthPerDay(history: DbHistory, bytes: number, nowMs: number): number | null {
  const points: [number, number][] = history.sizes.filter(([at]) => nowMs - at <= 7 * 24 * HOUR);
  points.push([nowMs, bytes]);
  if (nowMs - (points[0]?.[0] ?? nowMs) < 6 * HOUR) return null;
  const line = fitLine(points);
  return line ? Math.round(line.slope * 24 * HOUR) : null;
}

/** Counters between two readings; null when the older one does not know the statement. */
function between(now: Counters, base: StatementSnapshot, id: string): Counters | null {
  const old = base.rows[id];
  if (!old) return base.complete ? now : null;
  // Counters that went back mean the statistics were reset since: all we have is what came after.
  if (now[0] < old[0] || now[1] < old[1]) return now;
  return [now[0] - old[0], now[1] - old[1], now[2] - old[2]];
}

/** The snapshot a window starts from: the newest at least windowMs old, else the oldest there is. */
export function windowBase(history: DbHistory, nowMs: number, windowMs: number): StatementSnapshot | null {
  const older = history.statements.filter((s) => nowMs - s.at >= windowMs);
  return older.at(-1) ?? history.statements[0] ?? null;
}

/** Each statement's counters over the window from `base` to now. */
export function windowCounters(current: Map<string, Counters>, base: StatementSnapshot): Map<string, Counters> {
  const out = new Map<string, Counters>();
  for (const [id, now] of current) {
    const d = between(now, base, id);
    if (d && d[0] > 0) out.set(id, d);
  }
  return out;
}

export interface Regression {
  queryid: string;
  recentMeanSeconds: number;
  baselineMeanSeconds: number;
  recentCalls: number;
  baselineCalls: number;
}

export const REGRESSION_FACTOR = 2;
export const REGRESSION_MIN_CALLS = 50;

/**
 * Statements whose mean time over the last hour is at least twice their mean over the 24 hours before,
 * with at least 50 calls in each. Needs a snapshot about an hour old and one about a day before it.
 */
export function findRegressions(history: DbHistory, current: Map<string, Counters>, nowMs: number): Regression[] {
  const hourAgo = history.statements.filter((s) => nowMs - s.at >= HOUR && nowMs - s.at <= 1.5 * HOUR).at(-1);
  if (!hourAgo) return [];
  const target = hourAgo.at - 24 * HOUR;
  const dayBefore = history.statements
    .filter((s) => s.at <= hourAgo.at - 20 * HOUR)
    .sort((a, b) => Math.abs(a.at - target) - Math.abs(b.at - target))[0];
  if (!dayBefore) return [];
  const out: Regression[] = [];
  for (const [id, now] of current) {
    // A statement missing from a complete snapshot had not run yet: it counts from zero.
    const zero: Counters = [0, 0, 0];
    const mid = hourAgo.rows[id] ?? (hourAgo.complete ? zero : undefined);
    const old = dayBefore.rows[id] ?? (dayBefore.complete ? zero : undefined);
    if (!mid || !old) continue;
    const recent: [number, number] = [now[0] - mid[0], now[1] - mid[1]];
    const base: [number, number] = [mid[0] - old[0], mid[1] - old[1]];
    if (recent[0] < REGRESSION_MIN_CALLS || base[0] < REGRESSION_MIN_CALLS || recent[1] < 0 || base[1] <= 0) continue;
    const recentMean = recent[1] / recent[0];
    const baseMean = base[1] / base[0];
    if (recentMean >= REGRESSION_FACTOR * baseMean) {
      out.push({
        queryid: id,
        recentMeanSeconds: recentMean / 1000,
        baselineMeanSeconds: baseMean / 1000,
        recentCalls: recent[0],
        baselineCalls: base[0],
      });
    }
  }
  return out.sort((a, b) => b.recentMeanSeconds / b.baselineMeanSeconds - a.recentMeanSeconds / a.baselineMeanSeconds);
}

/** A window's length as people write it (1h, 45m, 1h30m). */
export function formatWindow(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return `${Math.max(1, Math.round(ms / 1000))}s`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h === 0 ? `${m}m` : m === 0 ? `${h}h` : `${h}h${m}m`;
}
