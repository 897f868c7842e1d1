/**
 * Counting what the parsing programs saw: per-minute buckets (kept for the longest window asked, so
 * p50/p95/p99 over `--app-window` come from mergeable sketches, not from every line) and cumulative
 * totals (the Prometheus counters and histograms, which never go back while the state lives).
 */
import { addToSketch, mergeSketch, type Sketch } from './sketch.js';

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
  /** `raised expected` (an exception the task declares with `throws=`): apart from the failures. */
  exp?: number;
  s?: Sketch;
  max?: number;
}

export interface RuleSeries {
  n: number;
  s?: Sketch;
  max?: number;
}

/** Lines read of a container in a bucket, and of them those no parsing program or rule recognised. */
export interface LineCounts {
  r: number;
  u: number;
}

export interface MinuteBucket {
  /** Minutes since the epoch (the bucket's first minute). */
  m: number;
  /** Minutes the bucket spans: 1, or more once old minutes are merged (see compactBuckets). */
  w?: number;
  /** container → lines read and unrecognised. */
  l?: Record<string, LineCounts>;
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
/** Routes remembered per container with their volume (the tracked ones and as many contenders). */
const MAX_ROUTES_KEPT = 2 * MAX_ROUTES_TRACKED;
/** Contenders counted per container in one run. */
const MAX_CONTENDERS = 1000;
/** A route's remembered volume halves every day. */
const ROUTE_HALF_LIFE_MS = 86_400_000;

/**
 * Routes per container by volume across runs: `METHOD route` → requests (decayed), and when it was
 * last decayed. The top MAX_ROUTES_TRACKED are counted under their own name; the rest under
 * `METHOD other` while they count up their volume to take a place in a later run.
 */
export interface RouteBook {
  at: string;
  routes: Record<string, Record<string, number>>;
}
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
  /** Per container: the routes counted under their own name this run, and those known with a status other than 404. */
  private readonly admitted = new Map<string, Set<string>>();
  private readonly known = new Map<string, Set<string>>();
  /** Per container: requests of routes counted under `other` this run, to weigh them for the next. */
  private readonly contenders = new Map<string, Map<string, { n: number }>>();
  private current: MinuteBucket | null = null;
  constructor(
    readonly totals: Totals,
    private readonly horizonMinute: number,
    readonly book: RouteBook = { at: new Date(0).toISOString(), routes: {} },
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

  /**
   * The series key a request of route `key` (`METHOD route`) with `status` counts under: its own; `METHOD
   * 404 other` for a 404 to a route never seen with another status (what scanners probe); `METHOD other`
   * past the routes tracked by volume, while `contender` (when given) counts it up for later runs.
   */
  admitRoute(container: string, key: string, method: string, status = 200): string {
    let admitted = this.admitted.get(container);
    let known = this.known.get(container);
    if (!admitted || !known) {
      const volumes = this.book.routes[container] ?? {};
      const top = Object.entries(volumes)
        .sort((a, b) => b[1] - a[1])
        .slice(0, MAX_ROUTES_TRACKED)
        .map(([k]) => k);
      this.admitted.set(container, (admitted = new Set(top)));
      this.known.set(container, (known = new Set(Object.keys(volumes))));
    }
    if (status === 404 && !known.has(key)) return `${method} ${NOT_FOUND_ROUTE}`;
    if (status !== 404) known.add(key);
    if (admitted.has(key)) return key;
    if (admitted.size < MAX_ROUTES_TRACKED) {
      admitted.add(key);
      return key;
    }
    return `${method} other`;
  }

  /** The counter of a route counted under `other` this run (a shared throwaway past MAX_CONTENDERS). */
  contender(container: string, key: string): { n: number } {
    let byKey = this.contenders.get(container);
    if (!byKey) this.contenders.set(container, (byKey = new Map()));
    let c = byKey.get(key);
    if (!c) {
      c = { n: 0 };
      if (byKey.size < MAX_CONTENDERS) byKey.set(key, c);
    }
    return c;
  }

  /** The lines-read counters of a container in the current bucket. */
  lineCounts(container: string): LineCounts {
    const b = this.current as MinuteBucket;
    const l = (b.l ??= {});
    return (l[container] ??= { r: 0, u: 0 });
  }

  /** The Prometheus histogram of a container's request durations (counted exactly, line by line). */
  httpHistogram(container: string): Histogram {
    return (this.totals.httpDuration[container] ??= emptyHistogram());
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
    countHttp(this.httpSeries(container, key), status, duration, this.httpHistogram(container));
  }

  task(
    container: string,
    task: string,
    state: 'succeeded' | 'failed' | 'retried' | 'expected',
    duration: number | null,
  ): void {
    const b = this.current as MinuteBucket;
    const byTask = (b.tasks[container] ??= {});
    const name = byTask[task] || Object.keys(byTask).length < MAX_NAMES ? task : 'other';
    const s = (byTask[name] ??= { ok: 0, fail: 0, retry: 0 });
    if (state === 'succeeded') s.ok++;
    else if (state === 'failed') s.fail++;
    else if (state === 'expected') s.exp = (s.exp ?? 0) + 1;
    else s.retry++;
    if (duration !== null) {
      addToSketch((s.s ??= {}), duration);
      if (s.max === undefined || duration > s.max) s.max = duration;
      const counts = (this.totals.tasks[container] ??= {});
      const total = counts[name] || Object.keys(counts).length < MAX_NAMES ? name : 'other';
      observe(((this.totals.taskDuration[container] ??= {})[total] ??= emptyHistogram()), duration);
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

  /** Weigh this run's routes into the book (decayed volumes), keeping the top MAX_ROUTES_KEPT per container. */
  private weighRoutes(nowMs: number): void {
    const factor = 0.5 ** (Math.max(0, nowMs - Date.parse(this.book.at)) / ROUTE_HALF_LIFE_MS);
    const add = new Map<string, Map<string, number>>();
    const bump = (container: string, key: string, n: number): void => {
      let m = add.get(container);
      if (!m) add.set(container, (m = new Map()));
      m.set(key, (m.get(key) ?? 0) + n);
    };
    for (const b of this.buckets.values()) {
      for (const [container, series] of Object.entries(b.http)) {
        for (const [key, s] of Object.entries(series)) if (!isGroupKey(key)) bump(container, key, s.n);
      }
    }
    for (const [container, byKey] of this.contenders) for (const [key, c] of byKey) bump(container, key, c.n);
    const containers = new Set([...Object.keys(this.book.routes), ...add.keys()]);
    for (const container of containers) {
      const volumes: Record<string, number> = {};
      for (const [key, n] of Object.entries(this.book.routes[container] ?? {})) volumes[key] = n * factor;
      for (const [key, n] of add.get(container) ?? []) volumes[key] = (volumes[key] ?? 0) + n;
      const kept = Object.entries(volumes)
        .filter(([, n]) => n >= 0.01)
        .sort((a, b) => b[1] - a[1])
        .slice(0, MAX_ROUTES_KEPT)
        .map(([k, n]) => [k, Number(n.toPrecision(6))] as const);
      if (kept.length === 0) delete this.book.routes[container];
      else this.book.routes[container] = Object.fromEntries(kept);
    }
    this.book.at = new Date(nowMs).toISOString();
  }

  /** Add this run's buckets to the totals and to the stored buckets; drop those past the horizon. */
  fold(stored: MinuteBucket[], nowMs = Date.now()): MinuteBucket[] {
    this.weighRoutes(nowMs);
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

/** The route of 404s to routes never seen with another status. */
export const NOT_FOUND_ROUTE = '404 other';

/** Series keys that group routes (`METHOD other`, `METHOD 404 other`): not routes of their own. */
function isGroupKey(key: string): boolean {
  return key.endsWith(' other');
}

/** Count one request into a series (and its duration into the histogram); duration -1 when none. */
export function countHttp(s: HttpSeries, status: number, duration: number, h: Histogram | null): void {
  s.n++;
  s.c[status] = (s.c[status] ?? 0) + 1;
  if (duration >= 0) {
    addToSketch((s.s ??= {}), duration);
    if (s.max === undefined || duration > s.max) s.max = duration;
    if (h) observe(h, duration);
  }
}

/** Count one value into a Prometheus histogram, exactly (`le` is "at most"). */
export function observe(h: Histogram, v: number): void {
  h.count++;
  h.sum += v;
  const b = h.b;
  for (let i = HISTOGRAM_BOUNDS.length - 1; i >= 0 && v <= (HISTOGRAM_BOUNDS[i] as number); i--) {
    b[i] = (b[i] ?? 0) + 1;
  }
}

function addToTotals(t: Totals, b: MinuteBucket): void {
  for (const [container, series] of Object.entries(b.http)) {
    const counts = (t.http[container] ??= {});
    for (const [key, s] of Object.entries(series)) {
      const method = key.slice(0, key.indexOf(' '));
      for (const [code, n] of Object.entries(s.c)) counts[`${method} ${code}`] = (counts[`${method} ${code}`] ?? 0) + n;
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

/** Add bucket `from` into `into` (same minute). */
export function mergeBucket(into: MinuteBucket, from: MinuteBucket): void {
  for (const [container, l] of Object.entries(from.l ?? {})) {
    const to = ((into.l ??= {})[container] ??= { r: 0, u: 0 });
    to.r += l.r;
    to.u += l.u;
  }
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
      if (s.exp) t.exp = (t.exp ?? 0) + s.exp;
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
