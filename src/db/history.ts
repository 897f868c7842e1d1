/**
 * What mizual-alerts runs keep about the database in `<stateDir>/db-state.json` (0600, atomic): every
 * statement's pg_stat_statements counters at each run, so figures cover a window instead of "since the
 * last reset" and a statement new in the window is never missing, and size samples for the growth per
 * day. Compact: the oldest kept snapshot holds every statement, each later one only the statements whose
 * counters moved since the one before (a reset starts a full one), so the file is bounded by
 * pg_stat_statements.max plus what ran. Bounded in time: every snapshot of the last 2 hours, one per hour
 * back to 27 hours; one size sample per 30 minutes for 8 days.
 */
import path from 'node:path';
import { readJsonState, writeJsonState } from '../core/state-files.js';
import { fitLine } from '../core/trends.js';

export const DB_STATE_FILE = 'db-state.json';
const HOUR = 3_600_000;

/** calls, total execution milliseconds, rows: cumulative since pg_stat_statements' last reset. */
export type Counters = [number, number, number];

/** When pg_stat_statements' counters started (pg_stat_statements_info, 14+): a change is a reset. */
export interface StatementEpoch {
  /** stats_reset (ISO), null before Postgres 14 or extension 1.9. */
  reset: string | null;
  /** Statements evicted to make room since the reset (dealloc), null where unknown. */
  dealloc: number | null;
}

export interface StatementSnapshot extends StatementEpoch {
  at: number;
  /** Every statement is in `rows`; otherwise `rows` holds only those that moved since the snapshot before. */
  full: boolean;
  rows: Record<string, Counters>;
}

/** A snapshot with every statement's counters at its time. */
export interface SnapshotView extends StatementEpoch {
  at: number;
  rows: Map<string, Counters>;
}

export interface DbHistory {
  version: 2;
  /** host:port/database these samples are of; another target starts afresh. */
  target: string;
  statements: StatementSnapshot[];
  /** [epoch ms, database size in bytes]. */
  sizes: [number, number][];
  /** The queryids the last judged run raised as regressions (held while no verdict can be given). */
  raised: string[];
  /**
   * Statement texts already read (queryid → text as shown, literals masked): reading texts makes
   * pg_stat_statements read its whole texts file, so each is read once while the statement lives.
   */
  texts: Record<string, string>;
}

/** Texts kept at most (about 200 characters each). */
export const KEPT_TEXTS = 500;

export function emptyHistory(target: string): DbHistory {
  return { version: 2, target, statements: [], sizes: [], raised: [], texts: {} };
}

/** The kept history for this target; missing, corrupt, older or another target's gives an empty one. */
export async function readDbHistory(stateDir: string, target: string): Promise<DbHistory> {
  const read = await readJsonState(path.join(stateDir, DB_STATE_FILE));
  if (read.status !== 'ok') return emptyHistory(target);
  const d = read.data as Partial<DbHistory> | null;
  if (!d || d.version !== 2 || d.target !== target || !Array.isArray(d.statements) || !Array.isArray(d.sizes)) {
    return emptyHistory(target);
  }
  return {
    version: 2,
    target,
    statements: d.statements.filter(
      (s) => typeof s?.at === 'number' && typeof s.full === 'boolean' && s.rows && typeof s.rows === 'object',
    ),
    sizes: d.sizes.filter((s) => Array.isArray(s) && typeof s[0] === 'number' && typeof s[1] === 'number'),
    raised: Array.isArray(d.raised) ? d.raised.filter((q) => typeof q === 'string') : [],
    texts:
      d.texts && typeof d.texts === 'object'
        ? Object.fromEntries(Object.entries(d.texts).filter(([, t]) => typeof t === 'string'))
        : {},
  };
}

export async function writeDbHistory(stateDir: string, history: DbHistory): Promise<void> {
  await writeJsonState(path.join(stateDir, DB_STATE_FILE), history);
}

/** Every kept snapshot with all its statements, oldest first (the deltas folded in). */
export function snapshotViews(history: DbHistory): SnapshotView[] {
  const views: SnapshotView[] = [];
  let rows = new Map<string, Counters>();
  for (const snap of history.statements) {
    rows = snap.full ? new Map(Object.entries(snap.rows)) : new Map([...rows, ...Object.entries(snap.rows)]);
    views.push({ at: snap.at, reset: snap.reset ?? null, dealloc: snap.dealloc ?? null, rows });
  }
  return views;
}

const moved = (a: Counters | undefined, b: Counters): boolean => !a || a[0] !== b[0] || a[1] !== b[1] || a[2] !== b[2];
const compact = (c: Counters): Counters => [c[0], Math.round(c[1] * 1000) / 1000, c[2]];

/** Add this run's counters (every statement) and thin the older snapshots, re-encoding them as deltas. */
export function addSnapshot(
  history: DbHistory,
  current: Map<string, Counters>,
  nowMs: number,
  epoch: StatementEpoch = { reset: null, dealloc: null },
): DbHistory {
  const views = snapshotViews(history).filter((v) => v.at < nowMs);
  views.push({ at: nowMs, ...epoch, rows: new Map([...current].map(([id, c]) => [id, compact(c)])) });
  const kept: SnapshotView[] = [];
  const hours = new Set<number>();
  for (const view of views) {
    const age = nowMs - view.at;
    if (age > 27 * HOUR) continue;
    if (age <= 2 * HOUR) kept.push(view);
    else if (!hours.has(Math.floor(view.at / HOUR))) {
      hours.add(Math.floor(view.at / HOUR));
      kept.push(view);
    }
  }
  // A statement gone from pg_stat_statements now restarts from zero if it comes back: the oldest full
  // snapshot need not carry it, which keeps the file bounded by pg_stat_statements.max.
  const statements: StatementSnapshot[] = [];
  let previous: SnapshotView | null = null;
  for (const view of kept) {
    const full = previous === null || previous.reset !== view.reset;
    const rows: Record<string, Counters> = {};
    for (const [id, c] of view.rows) {
      if (full ? previous !== null || current.has(id) : moved(previous?.rows.get(id), c)) rows[id] = c;
    }
    statements.push({ at: view.at, reset: view.reset, dealloc: view.dealloc, full, rows });
    previous = view;
  }
  return { ...history, statements };
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

/** Counters between two readings; a statement the older one does not know ran only since. */
function between(now: Counters, base: SnapshotView, id: string, sameEpoch: boolean): Counters | null {
  const old = sameEpoch ? base.rows.get(id) : undefined;
  if (!old) return now;
  // Evicted and back since (counters restarted): all we have is what came after.
  if (now[0] < old[0] || now[1] < old[1]) return now;
  return [now[0] - old[0], now[1] - old[1], now[2] - old[2]];
}

/** The snapshot a window starts from: the newest at least windowMs old, else the oldest there is. */
export function windowBase(history: DbHistory, nowMs: number, windowMs: number): SnapshotView | null {
  const views = snapshotViews(history);
  const older = views.filter((s) => nowMs - s.at >= windowMs);
  return older.at(-1) ?? views[0] ?? null;
}

/** Each statement's counters over the window from `base` to now (all of them after a reset). */
export function windowCounters(
  current: Map<string, Counters>,
  base: SnapshotView,
  epoch: StatementEpoch = { reset: null, dealloc: null },
): Map<string, Counters> {
  const out = new Map<string, Counters>();
  const sameEpoch = base.reset === epoch.reset;
  for (const [id, now] of current) {
    const d = between(now, base, id, sameEpoch);
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
/** Calls needed in the day before (the contract's 50). */
export const REGRESSION_BASELINE_CALLS = 50;

export interface RegressionRules {
  /** --db-regression-ms: the last hour's mean must be at least this (PgHero's floor, 20 ms). */
  minMeanMs: number;
  /** --db-regression-calls: calls needed in the last hour (100). */
  minCalls: number;
}

export const DEFAULT_REGRESSION_RULES: RegressionRules = { minMeanMs: 20, minCalls: 100 };

/** Regressions found, or why none can be judged this run. */
export type RegressionVerdict = { judged: true; found: Regression[] } | { judged: false; why: string };

/**
 * Statements whose mean time over the last hour is at least twice their mean over the 24 hours before,
 * with at least `minCalls` calls and a mean of `minMeanMs` in the hour and 50 calls in the day. Judged only
 * across no statistics reset (stats_reset from pg_stat_statements_info); a statement whose counters went
 * back (evicted and back) is not judged; a counter going down never counts as a reset of the rest.
 */
export function judgeRegressions(
  history: DbHistory,
  current: Map<string, Counters>,
  nowMs: number,
  epoch: StatementEpoch = { reset: null, dealloc: null },
  rules: RegressionRules = DEFAULT_REGRESSION_RULES,
): RegressionVerdict {
  const views = snapshotViews(history);
  const hourAgo = views.filter((s) => nowMs - s.at >= HOUR && nowMs - s.at <= 1.5 * HOUR).at(-1);
  if (!hourAgo) return { judged: false, why: 'no snapshot of an hour ago yet' };
  const target = hourAgo.at - 24 * HOUR;
  const dayBefore = views
    .filter((s) => s.at <= hourAgo.at - 20 * HOUR)
    .sort((a, b) => Math.abs(a.at - target) - Math.abs(b.at - target))[0];
  if (!dayBefore) return { judged: false, why: 'no snapshot of a day before yet' };
  if (dayBefore.reset !== hourAgo.reset || hourAgo.reset !== epoch.reset) {
    return { judged: false, why: `the statistics were reset at ${epoch.reset ?? 'an unknown time'}, within the day` };
  }
  const out: Regression[] = [];
  const zero: Counters = [0, 0, 0];
  for (const [id, now] of current) {
    // A statement new since a snapshot ran only after it: it counts from zero.
    const mid = hourAgo.rows.get(id) ?? zero;
    const old = dayBefore.rows.get(id) ?? zero;
    const recent: [number, number] = [now[0] - mid[0], now[1] - mid[1]];
    const base: [number, number] = [mid[0] - old[0], mid[1] - old[1]];
    if (recent[0] < 0 || recent[1] < 0 || base[0] < 0 || base[1] < 0) continue;
    if (recent[0] < Math.max(rules.minCalls, 1) || base[0] < REGRESSION_BASELINE_CALLS || base[1] <= 0) continue;
    const recentMean = recent[1] / recent[0];
    const baseMean = base[1] / base[0];
    if (recentMean >= rules.minMeanMs && recentMean >= REGRESSION_FACTOR * baseMean) {
      out.push({
        queryid: id,
        recentMeanSeconds: recentMean / 1000,
        baselineMeanSeconds: baseMean / 1000,
        recentCalls: recent[0],
        baselineCalls: base[0],
      });
    }
  }
  out.sort((a, b) => b.recentMeanSeconds / b.baselineMeanSeconds - a.recentMeanSeconds / a.baselineMeanSeconds);
  return { judged: true, found: out };
}

/** A window's length as people write it (1h, 45m, 1h30m). */
export function formatWindow(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return `${Math.max(1, Math.round(ms / 1000))}s`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h === 0 ? `${m}m` : m === 0 ? `${h}h` : `${h}h${m}m`;
}
