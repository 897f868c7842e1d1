/**
 * Counting what the parsing programs saw: per-minute buckets (kept for the longest window asked, so
 * p50/p95/p99 over `--app-window` come from mergeable sketches, not from every line) and cumulative
 * totals (the Prometheus counters and histograms, which never go back while the state lives).
 */
import { addToSketch, bucketValue, mergeSketch, type Sketch } from './sketch.js';

/** One series of a minute: counts by status code, and the durations when the format has them. */
export interface HttpSeries {
  n: number;
  /** Status code → requests. */
  c: Record<string, number>;
  s?: Sketch;
  max?: number;
}

export interface TaskSeries {
  ok: number;
  fail: number;
  retry: number;
  s?: Sketch;
  max?: number;
}

export interface RuleSeries {
  n: number;
  s?: Sketch;
  max?: number;
}

export interface MinuteBucket {
  /** Minutes since the epoch. */
  m: number;
  /** container → `METHOD route` → series. */
  http: Record<string, Record<string, HttpSeries>>;
  /** container → task name → series. */
  tasks: Record<string, Record<string, TaskSeries>>;
  /** container → `rule\tlabel` → series. */
  rules: Record<string, Record<string, RuleSeries>>;
}

export interface Histogram {
  /** Cumulative counts at or below HISTOGRAM_BOUNDS (in order); `count` is the +Inf bucket. */
  b: number[];
  sum: number;
  count: number;
}

export interface Totals {
  /** container → `METHOD code` → requests. */
  http: Record<string, Record<string, number>>;
  httpDuration: Record<string, Histogram>;
  /** container → task → {succeeded, failed, retried}. */
  tasks: Record<string, Record<string, { succeeded: number; failed: number; retried: number }>>;
  taskDuration: Record<string, Record<string, Histogram>>;
  /** `rule\tlabel` → events. */
  rules: Record<string, number>;
}

/** Prometheus's default buckets, stretched to a minute for Celery tasks. */
export const HISTOGRAM_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;
/** Distinct routes per container past which new ones count as `other` (labels stay bounded). */
export const MAX_ROUTES_TRACKED = 100;
/** Distinct task names and rule labels per container past which new ones count as `other`. */
const MAX_NAMES = 100;

export function emptyTotals(): Totals {
  return { http: {}, httpDuration: {}, tasks: {}, taskDuration: {}, rules: {} };
}

/**
 * The counting of one run. Lines older than `horizonMinute` count in the totals only; the buckets
 * of a run are folded into the stored ones at the end (see `fold`).
 */
export class Tally {
  readonly buckets = new Map<number, MinuteBucket>();
  private current: MinuteBucket | null = null;
  private readonly routeCounts = new Map<string, Set<string>>();
  constructor(
    readonly totals: Totals,
    private readonly horizonMinute: number,
  ) {}

  /** Select the bucket lines are counted into next (minute since the epoch). */
  minute(m: number): void {
    if (this.current?.m === m) return;
    let b = this.buckets.get(m);
    if (!b) {
      b = { m, http: {}, tasks: {}, rules: {} };
      this.buckets.set(m, b);
      // A first run over a long log: fold old minutes as they pass, so memory stays bounded.
      if (this.buckets.size > 90) this.foldOld();
    }
    this.current = b;
  }

  /** A route key for a container, `other` once it already has MAX_ROUTES_TRACKED. */
  admitRoute(container: string, key: string, method: string): string {
    let set = this.routeCounts.get(container);
    if (!set) this.routeCounts.set(container, (set = new Set()));
    if (set.has(key)) return key;
    if (set.size >= MAX_ROUTES_TRACKED) return `${method} other`;
    set.add(key);
    return key;
  }

  /** The current minute's series `key` (`METHOD route`) of a container, to count into with countHttp. */
  httpSeries(container: string, key: string): HttpSeries {
    const b = this.current as MinuteBucket;
    const byKey = (b.http[container] ??= {});
    let s = byKey[key];
    if (s === undefined) byKey[key] = s = { n: 0, c: {} };
    return s;
  }

  /** Count one request of series `key` (`METHOD route`); duration -1 when none. */
  http(container: string, key: string, status: number, duration: number): void {
    countHttp(this.httpSeries(container, key), status, duration);
  }

  task(container: string, task: string, state: 'succeeded' | 'failed' | 'retried', duration: number | null): void {
    const b = this.current as MinuteBucket;
    const byTask = (b.tasks[container] ??= {});
    const name = byTask[task] || Object.keys(byTask).length < MAX_NAMES ? task : 'other';
    const s = (byTask[name] ??= { ok: 0, fail: 0, retry: 0 });
    if (state === 'succeeded') s.ok++;
    else if (state === 'failed') s.fail++;
    else s.retry++;
    if (duration !== null) {
      addToSketch((s.s ??= {}), duration);
      if (s.max === undefined || duration > s.max) s.max = duration;
    }
  }

  rule(container: string, rule: string, label: string | null, duration: number | null): void {
    const b = this.current as MinuteBucket;
    const byRule = (b.rules[container] ??= {});
    let key = `${rule}\t${label ?? ''}`;
    if (!byRule[key] && Object.keys(byRule).length >= MAX_NAMES) key = `${rule}\tother`;
    const s = (byRule[key] ??= { n: 0 });
    s.n++;
    if (duration !== null) {
      addToSketch((s.s ??= {}), duration);
      if (s.max === undefined || duration > s.max) s.max = duration;
    }
  }

  private foldOld(): void {
    for (const [m, b] of this.buckets) {
      if (m >= this.horizonMinute || b === this.current) continue;
      addToTotals(this.totals, b);
      this.buckets.delete(m);
    }
  }

  /** Add this run's buckets to the totals and to the stored buckets; drop those past the horizon. */
  fold(stored: MinuteBucket[]): MinuteBucket[] {
    const byMinute = new Map(stored.filter((b) => b.m >= this.horizonMinute).map((b) => [b.m, b]));
    for (const b of this.buckets.values()) {
      addToTotals(this.totals, b);
      if (b.m < this.horizonMinute) continue;
      const into = byMinute.get(b.m);
      if (into) mergeBucket(into, b);
      else byMinute.set(b.m, b);
    }
    this.buckets.clear();
    this.current = null;
    return [...byMinute.values()].sort((a, b) => a.m - b.m);
  }
}

/** Count one request into a series; duration -1 when none. */
export function countHttp(s: HttpSeries, status: number, duration: number): void {
  s.n++;
  s.c[status] = (s.c[status] ?? 0) + 1;
  if (duration >= 0) {
    addToSketch((s.s ??= {}), duration);
    if (s.max === undefined || duration > s.max) s.max = duration;
  }
}

function addToTotals(t: Totals, b: MinuteBucket): void {
  for (const [container, series] of Object.entries(b.http)) {
    const counts = (t.http[container] ??= {});
    for (const [key, s] of Object.entries(series)) {
      const method = key.slice(0, key.indexOf(' '));
      for (const [code, n] of Object.entries(s.c)) counts[`${method} ${code}`] = (counts[`${method} ${code}`] ?? 0) + n;
      if (s.s) addToHistogram((t.httpDuration[container] ??= emptyHistogram()), s.s);
    }
  }
  for (const [container, series] of Object.entries(b.tasks)) {
    const counts = (t.tasks[container] ??= {});
    for (const [name, s] of Object.entries(series)) {
      const task = counts[name] || Object.keys(counts).length < MAX_NAMES ? name : 'other';
      const c = (counts[task] ??= { succeeded: 0, failed: 0, retried: 0 });
      c.succeeded += s.ok;
      c.failed += s.fail;
      c.retried += s.retry;
      if (s.s) addToHistogram(((t.taskDuration[container] ??= {})[task] ??= emptyHistogram()), s.s);
    }
  }
  for (const series of Object.values(b.rules)) {
    for (const [key, s] of Object.entries(series)) {
      let k = key;
      if (t.rules[k] === undefined) {
        // Counters live as long as the state: a label per edit id must not grow them without end.
        const rule = key.slice(0, key.indexOf('\t'));
        const labels = Object.keys(t.rules).filter((x) => x.startsWith(`${rule}\t`)).length;
        if (labels >= MAX_NAMES) k = `${rule}\tother`;
      }
      t.rules[k] = (t.rules[k] ?? 0) + s.n;
    }
  }
}

function emptyHistogram(): Histogram {
  return { b: HISTOGRAM_BOUNDS.map(() => 0), sum: 0, count: 0 };
}

function addToHistogram(h: Histogram, sketch: Sketch): void {
  for (const [key, n] of Object.entries(sketch)) {
    const v = bucketValue(Number(key));
    h.count += n;
    h.sum += v * n;
    for (let i = 0; i < HISTOGRAM_BOUNDS.length; i++) if (v <= HISTOGRAM_BOUNDS[i]!) h.b[i] = (h.b[i] ?? 0) + n;
  }
}

/** Add bucket `from` into `into` (same minute). */
export function mergeBucket(into: MinuteBucket, from: MinuteBucket): void {
  for (const [container, series] of Object.entries(from.http)) {
    const to = (into.http[container] ??= {});
    for (const [key, s] of Object.entries(series)) {
      const t = (to[key] ??= { n: 0, c: {} });
      t.n += s.n;
      for (const [code, n] of Object.entries(s.c)) t.c[code] = (t.c[code] ?? 0) + n;
      mergeDurations(t, s);
    }
  }
  for (const [container, series] of Object.entries(from.tasks)) {
    const to = (into.tasks[container] ??= {});
    for (const [key, s] of Object.entries(series)) {
      const t = (to[key] ??= { ok: 0, fail: 0, retry: 0 });
      t.ok += s.ok;
      t.fail += s.fail;
      t.retry += s.retry;
      mergeDurations(t, s);
    }
  }
  for (const [container, series] of Object.entries(from.rules)) {
    const to = (into.rules[container] ??= {});
    for (const [key, s] of Object.entries(series)) {
      const t = (to[key] ??= { n: 0 });
      t.n += s.n;
      mergeDurations(t, s);
    }
  }
}

function mergeDurations(into: { s?: Sketch; max?: number }, from: { s?: Sketch; max?: number }): void {
  if (from.s) mergeSketch((into.s ??= {}), from.s);
  if (from.max !== undefined && (into.max === undefined || from.max > into.max)) into.max = from.max;
}
