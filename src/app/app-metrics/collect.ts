/**
 * Response times from the application's own Prometheus endpoint (MIZUAL_APP_METRICS): each run reads
 * the cumulative request-duration histogram, keeps it (a few snapshots, thinned with age) in the state
 * directory, and reports per-route requests, 5xx and p50/p95/p99 over the window from the difference
 * with the snapshot taken a window ago. A restart (a deploy) starts the counts anew and never gives a
 * negative figure; counts that go back and forth between runs (gunicorn workers each with its own
 * registry) give no figure at all, only the fix.
 */
import path from 'node:path';
import type { Config } from '../../core/config.js';
import { dialUrl, type DialFn } from '../../docker/compose-hosts.js';
import { describeError, UsageError } from '../../core/errors.js';
import { describeUrl } from '../../core/http-client.js';
import { acquireLockWaiting, type Lock } from '../../core/lock.js';
import { ensurePrivateDir, readJsonState, writeFileAtomic } from '../../core/state-files.js';
import type { HttpFigure, RouteFigure } from '../model.js';
import { collapseRoute } from '../logs/routes.js';
import { scrapeHistograms, type Scraped } from './scrape.js';
import { MAX_ROUTES_TRACKED } from '../logs/tally.js';

export const APP_METRICS_STATE_FILE = 'app-metrics.json';
const LOCK_FILE = 'app-metrics.lock';
const LOCK_WAIT_MS = 5_000;
export const APP_METRICS_TIMEOUT_MS = 5_000;
const MAX_ANSWER_BYTES = 8 * 1_048_576;
const MIN_HORIZON_MS = 3_600_000;
const MAX_HORIZON_MS = 86_400_000;
/** An endpoint not read for this long is forgotten. */
const FORGET_MS = 7 * 86_400_000;
/** The fix named when counts go back and forth between runs. */
export const MULTIPROC_FIX =
  'several processes answer with their own counts (gunicorn workers?): set PROMETHEUS_MULTIPROC_DIR ' +
  "(prometheus_client's multiprocess mode) so /metrics adds them up";

export interface AppMetricsSpec {
  name: string;
  url: string;
}

/** One kept reading: when, the process start it came from, and `METHOD\troute\tstatus` → counts. */
interface Snapshot {
  t: number;
  start: number | null;
  s: Record<string, number[]>;
}

interface EndpointState {
  family: string;
  bounds: number[];
  snapshots: Snapshot[];
  /** Our own cumulative counts (the Prometheus counters), never going back. */
  totals: Record<string, number[]>;
  container: string;
  /** The last readings of the hour, every one (not thinned): how counts going back and forth are seen. */
  seen?: Seen[];
}

interface AppMetricsState {
  version: 1;
  horizonMs: number;
  endpoints: Record<string, EndpointState>;
}

/** The cumulative counts behind --prometheus, per endpoint. */
export interface AppMetricsTotals {
  container: string;
  bounds: number[];
  /** `METHOD\troute\tstatus` → bucket counts, then count and sum. */
  series: Record<string, number[]>;
}

export interface CollectAppMetricsOptions {
  specs: AppMetricsSpec[];
  stateDir: string;
  windowMs: number;
  now?: Date;
  /** Read but keep nothing (`mizual-alerts --dry-run`). */
  readOnly?: boolean;
  timeoutMs?: number;
  /**
   * Where to connect for a URL's host: a Compose service or container name is dialled at its container
   * (src/docker/compose-hosts.ts), the entry's `container` then that container; by default the URL's own.
   */
  dial?: DialFn;
}

export interface AppMetricsCollection {
  http: HttpFigure[];
  problems: string[];
  totals: AppMetricsTotals[];
}

/** Parse `name=URL,…` (a comma starts an entry only before `name=scheme:`); bad entries are usage errors. */
export function parseAppMetrics(value: string | undefined): AppMetricsSpec[] {
  if (value === undefined || value.trim() === '') return [];
  const specs: AppMetricsSpec[] = [];
  for (const [i, entry] of value.split(/,(?=\s*[A-Za-z0-9_.-]+\s*=\s*[A-Za-z][A-Za-z0-9+.-]*:)/).entries()) {
    const match = /^\s*([A-Za-z0-9_.-]+)\s*=\s*(\S+)\s*$/.exec(entry);
    if (!match) throw new UsageError(`MIZUAL_APP_METRICS entry ${i + 1} is not name=URL`);
    const [, name, url] = match as unknown as [string, string, string];
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw new UsageError(`MIZUAL_APP_METRICS: ${name} is not a URL`);
    }
    if (protocol !== 'http:' && protocol !== 'https:') {
      throw new UsageError(`MIZUAL_APP_METRICS: ${name} must be an http:// or https:// URL`);
    }
    if (specs.some((s) => s.name === name)) throw new UsageError(`MIZUAL_APP_METRICS names ${name} twice`);
    specs.push({ name, url });
  }
  return specs;
}

/**
 * MIZUAL_APP_METRICS as configured: null when unset; a malformed value rejects with its usage error.
 * What both tools call (mizual-alerts with `readOnly` under --dry-run).
 */
export async function collectConfiguredAppMetrics(
  config: Pick<Config, 'lookup' | 'stateDir'>,
  options: Omit<CollectAppMetricsOptions, 'specs' | 'stateDir'>,
): Promise<AppMetricsCollection | null> {
  const value = config.lookup('MIZUAL_APP_METRICS');
  if (!value?.trim()) return null;
  return collectAppMetrics({ ...options, specs: parseAppMetrics(value), stateDir: config.stateDir });
}

/**
 * One HTTP figure per container, for the checks: the app's own histogram when it was read (it counts
 * every request whatever the log writes), else the one from the log lines.
 */
export function onePerContainer(http: HttpFigure[]): HttpFigure[] {
  const chosen = new Map<string, HttpFigure>();
  for (const h of http) {
    const had = chosen.get(h.container);
    if (!had || (h.source === 'metrics' && had.source !== 'metrics')) chosen.set(h.container, h);
  }
  return [...chosen.values()];
}

/** Read every endpoint at once, keep the snapshots, and return the window's figures. */
export async function collectAppMetrics(options: CollectAppMetricsOptions): Promise<AppMetricsCollection> {
  const problems: string[] = [];
  if (options.specs.length === 0) return { http: [], problems, totals: [] };
  const nowMs = (options.now ?? new Date()).getTime();
  const timeoutMs = options.timeoutMs ?? APP_METRICS_TIMEOUT_MS;
  // The scrapes run while the lock is awaited: they need no state.
  const scrapes = options.specs.map(async (spec) => {
    let where: { container: string | null; connect?: { host: string; port: number } } = { container: null };
    try {
      if (options.dial) {
        const to = await dialUrl(options.dial, spec.url);
        if (to.container) where = { container: to.container, connect: { host: to.host, port: to.port } };
      }
      const scraped = await scrapeHistograms(spec.url, {
        timeoutMs,
        maxBytes: MAX_ANSWER_BYTES,
        connect: where.connect,
      });
      return { spec, container: where.container ?? spec.name, scraped, error: null };
    } catch (err) {
      return { spec, container: where.container ?? spec.name, scraped: null, error: describeError(err) };
    }
  });
  const file = path.join(options.stateDir, APP_METRICS_STATE_FILE);
  const lock = options.readOnly ? null : await waitForLock(path.join(options.stateDir, LOCK_FILE), problems);
  try {
    const state = await loadState(file, problems);
    state.horizonMs = Math.min(MAX_HORIZON_MS, Math.max(state.horizonMs, options.windowMs, MIN_HORIZON_MS));
    const http: HttpFigure[] = [];
    for (const { spec, container, scraped, error } of await Promise.all(scrapes)) {
      const label = `app metrics ${spec.name} (${describeUrl(spec.url)})`;
      if (error !== null || scraped === null) {
        problems.push(`${label}: ${error ?? 'no answer'}`);
        continue;
      }
      // Kept all the same: an app exposes nothing before its first request (multiprocess mode).
      if (scraped.family === '') problems.push(`${label}: no *_request_duration_seconds histogram with a route label`);
      if (scraped.truncated) problems.push(`${label}: more than ${scraped.series.size} series; the rest not read`);
      if (!scraped.hasStatus) problems.push(`${label}: ${scraped.family} has no status label; 5xx not known`);
      const figure = advance(state, spec.name, container, scraped, nowMs, options.windowMs, label, problems);
      if (figure) http.push({ ...figure, name: spec.name, url: describeUrl(spec.url) });
    }
    for (const [name, ep] of Object.entries(state.endpoints)) {
      const last = ep.snapshots.at(-1);
      if (!last || nowMs - last.t > FORGET_MS) delete state.endpoints[name];
    }
    if (lock) {
      await ensurePrivateDir(options.stateDir);
      await writeFileAtomic(file, JSON.stringify(state), 0o600).catch((err: unknown) =>
        problems.push(`app metrics state not written: ${describeError(err)}`),
      );
    }
    const totals = options.specs.flatMap((s) => {
      const ep = state.endpoints[s.name];
      return ep ? [{ container: ep.container, bounds: ep.bounds, series: ep.totals }] : [];
    });
    return { http, problems, totals };
  } finally {
    lock?.release();
  }
}

/** Add this reading to the endpoint's state and return the window's figure (null with a problem when there is none). */
function advance(
  state: AppMetricsState,
  name: string,
  container: string,
  scraped: Scraped,
  nowMs: number,
  windowMs: number,
  label: string,
  problems: string[],
): Omit<HttpFigure, 'name' | 'url'> | null {
  let ep = state.endpoints[name];
  // Readings of no request yet (no family or no bucket known) are zeros whatever the histogram turns out to be.
  if (ep && (ep.family === '' || ep.family === scraped.family) && ep.bounds.length === 0) {
    ep.family = scraped.family;
    ep.bounds = scraped.bounds;
  }
  if (ep && scraped.bounds.length === 0 && scraped.series.size === 0) {
    scraped.family = ep.family;
    scraped.bounds = ep.bounds;
  }
  // New buckets (the app changed its histogram) cannot be compared with the old ones: start again.
  if (!ep || ep.family !== scraped.family || ep.bounds.join() !== scraped.bounds.join()) {
    ep = { family: scraped.family, bounds: scraped.bounds, snapshots: [], totals: {}, container };
    state.endpoints[name] = ep;
  }
  ep.container = container;
  const cur: Snapshot = { t: nowMs, start: scraped.start, s: boundRoutes(scraped, ep.snapshots.at(-1)) };
  const previous = ep.snapshots;
  const chain = [...previous, cur];
  const total = Object.values(cur.s).reduce((n, c) => n + (c[c.length - 2] ?? 0), 0);
  ep.seen = [...(ep.seen ?? []), [nowMs, cur.start, total] as Seen]
    .filter(([t]) => nowMs - t <= 3_900_000)
    .slice(-SEEN_KEPT);
  const flipping = goesBackAndForth(ep.seen);
  const newest = previous.at(-1);
  // Counts read from one worker and then another would add up to nonsense: no totals, no figure.
  if (newest && !flipping) addInto(ep.totals, pairDelta(newest, cur));
  // Our counters start at zero at the first reading, so the first increase after it is seen by rate().
  if (!newest) for (const [key, counts] of Object.entries(cur.s)) ep.totals[key] ??= counts.map(() => 0);
  ep.snapshots = thin(chain, nowMs, state.horizonMs);
  if (flipping) {
    problems.push(`${label}: the counts go back and forth between runs; ${MULTIPROC_FIX}`);
    return null;
  }
  if (scraped.family === '') return null;
  if (previous.length === 0) {
    problems.push(`${label}: first reading; figures from the next run on`);
    return null;
  }
  // The snapshot taken a window ago (a little slack for cron's jitter), else the oldest kept.
  const target = nowMs - windowMs + Math.min(60_000, windowMs / 5);
  let from = 0;
  for (let i = previous.length - 1; i >= 0; i--) {
    if ((previous[i] as Snapshot).t <= target) {
      from = i;
      break;
    }
  }
  const delta: Record<string, number[]> = {};
  for (let i = from; i < chain.length - 1; i++)
    addInto(delta, pairDelta(chain[i] as Snapshot, chain[i + 1] as Snapshot));
  const since = (previous[from] as Snapshot).t;
  return figure(container, ep.bounds, delta, since, nowMs);
}

/** Routes collapsed like the log path's, at most MAX_ROUTES_TRACKED (those kept before first), the rest `other`. */
function boundRoutes(scraped: Scraped, before: Snapshot | undefined): Record<string, number[]> {
  const known = new Set<string>();
  if (before) for (const key of Object.keys(before.s)) known.add(key.split('\t')[1] as string);
  const collapsed = new Map<string, { key: string; counts: number[] }[]>();
  for (const [key, counts] of scraped.series) {
    const [method, route, status] = key.split('\t') as [string, string, string];
    const r = route.startsWith('/') ? collapseRoute(route) : route || 'other';
    let list = collapsed.get(r);
    if (!list) collapsed.set(r, (list = []));
    list.push({ key: `${method}\t${r}\t${status}`, counts });
  }
  const totals = new Map<string, number>();
  for (const [r, list] of collapsed)
    totals.set(
      r,
      list.reduce((n, e) => n + (e.counts[e.counts.length - 2] ?? 0), 0),
    );
  // Plain comparisons: localeCompare's first call loads ICU's collator, a cost this run need not pay.
  const order = [...collapsed.keys()].sort(
    (a, b) =>
      Number(known.has(b)) - Number(known.has(a)) || (totals.get(b) ?? 0) - (totals.get(a) ?? 0) || compare(a, b),
  );
  const kept = new Set(order.slice(0, MAX_ROUTES_TRACKED));
  const out: Record<string, number[]> = {};
  for (const [r, list] of collapsed) {
    for (const { key, counts } of list) {
      const k = kept.has(r) ? key : key.replace(/\t[^\t]*\t/, '\tother\t');
      const into = out[k];
      out[k] = into ? into.map((v, i) => v + (counts[i] ?? 0)) : [...counts];
    }
  }
  return out;
}

/** What was counted between two readings; a series that went down is a restart and counts from zero. */
function pairDelta(prev: Snapshot, cur: Snapshot): Record<string, number[]> {
  const restarted = prev.start !== null && cur.start !== null && prev.start !== cur.start;
  const out: Record<string, number[]> = {};
  for (const [key, counts] of Object.entries(cur.s)) {
    const before = restarted ? undefined : prev.s[key];
    const wentDown = before !== undefined && counts.some((v, i) => v < (before[i] ?? 0));
    out[key] = before === undefined || wentDown ? [...counts] : counts.map((v, i) => v - (before[i] ?? 0));
  }
  return out;
}

/** The last readings seen (time, process start, total count), kept apart from the thinned snapshots. */
type Seen = [number, number | null, number];
const SEEN_KEPT = 20;
/** A pattern is judged while one of these last readings takes part in it: it clears soon after the fix. */
const SEEN_JUDGED = 6;

/**
 * Counts that came from different registries in turn, among the last readings: the total went down
 * while the process start stayed the same (workers forked in the same clock tick share it), a process
 * start seen before comes back after another, or (without process_start_time_seconds) the total goes
 * down and is back past where it was within the next three readings.
 */
function goesBackAndForth(seen: Seen[]): boolean {
  const from = Math.max(1, seen.length - SEEN_JUDGED);
  for (let i = from; i < seen.length; i++) {
    const [, start, total] = seen[i] as Seen;
    const [, prevStart, prevTotal] = seen[i - 1] as Seen;
    if (start === null || prevStart === null) continue;
    if (start === prevStart && total < prevTotal) return true;
    if (start !== prevStart && seen.slice(0, i - 1).some(([, s]) => s === start)) return true;
  }
  for (let i = Math.max(0, from - 4); i + 1 < seen.length; i++) {
    const [, , a] = seen[i] as Seen;
    const [, start, b] = seen[i + 1] as Seen;
    if (start !== null || b >= a) continue;
    const back = seen.slice(i + 2, i + 5).findIndex(([, , c]) => c >= a);
    if (back >= 0 && i + 2 + back >= from) return true;
  }
  return false;
}

/** Keep the newest reading, then one per minute for 15 minutes, one per 5 minutes for the hour, one per hour after. */
function thin(chain: Snapshot[], nowMs: number, horizonMs: number): Snapshot[] {
  const newest = chain.at(-1) as Snapshot;
  const slots = new Set<string>();
  const kept: Snapshot[] = [];
  for (const s of chain) {
    const age = nowMs - s.t;
    if (s === newest) {
      kept.push(s);
      continue;
    }
    if (age > horizonMs + 300_000) continue;
    const slot = age < 900_000 ? 60_000 : age < 3_900_000 ? 300_000 : 3_600_000;
    const key = `${slot}:${Math.floor(s.t / slot)}`;
    // The newest reading's own slot is its own: an older reading of the same minute is kept too.
    if (slots.has(key)) continue;
    slots.add(key);
    kept.push(s);
  }
  return kept;
}

function addInto(into: Record<string, number[]>, delta: Record<string, number[]>): void {
  for (const [key, counts] of Object.entries(delta)) {
    const have = into[key];
    into[key] = have ? have.map((v, i) => v + (counts[i] ?? 0)) : [...counts];
  }
}

/** Prometheus' histogram_quantile over cumulative counts at `bounds` (the last count is +Inf): seconds, or null with no request. */
export function bucketQuantile(q: number, bounds: number[], cumulative: number[]): number | null {
  const total = cumulative[bounds.length] ?? 0;
  if (total <= 0 || bounds.length === 0) return null;
  const rank = q * total;
  let b = 0;
  while (b < bounds.length && (cumulative[b] ?? 0) < rank) b++;
  // In the +Inf bucket: the highest finite bound is all that is known.
  if (b === bounds.length) return bounds[b - 1] as number;
  const end = bounds[b] as number;
  if (b === 0 && end <= 0) return end;
  const start = b === 0 ? 0 : (bounds[b - 1] as number);
  const below = b === 0 ? 0 : (cumulative[b - 1] as number);
  const inBucket = (cumulative[b] as number) - below;
  return round(start + (end - start) * ((rank - below) / inBucket));
}

/** The upper bound of the highest bucket that received a request (null when that is +Inf or none did). */
function topBound(bounds: number[], cumulative: number[]): number | null {
  const total = cumulative[bounds.length] ?? 0;
  if (total <= 0) return null;
  if ((cumulative[bounds.length - 1] ?? 0) < total) return null;
  for (let b = 0; b < bounds.length; b++) if ((cumulative[b] ?? 0) >= total) return bounds[b] as number;
  return null;
}

function figure(
  container: string,
  bounds: number[],
  delta: Record<string, number[]>,
  sinceMs: number,
  nowMs: number,
): Omit<HttpFigure, 'name' | 'url'> {
  const n = bounds.length;
  const status = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  const all = new Array<number>(n + 2).fill(0);
  const routes = new Map<string, { counts: number[]; errors: number }>();
  for (const [key, counts] of Object.entries(delta)) {
    const [method, route, code] = key.split('\t') as [string, string, string];
    const requests = counts[n] ?? 0;
    if (requests <= 0) continue;
    const cls = `${code[0] ?? ''}xx` as keyof typeof status;
    if (cls in status) status[cls] += requests;
    const k = `${method}\t${route}`;
    let r = routes.get(k);
    if (!r) routes.set(k, (r = { counts: new Array<number>(n + 2).fill(0), errors: 0 }));
    if (code[0] === '5') r.errors += requests;
    for (let i = 0; i < n + 2; i++) {
      r.counts[i] = (r.counts[i] as number) + (counts[i] ?? 0);
      all[i] = (all[i] as number) + (counts[i] ?? 0);
    }
  }
  const requests = all[n] as number;
  const rows: RouteFigure[] = [...routes].map(([k, r]) => {
    const [method, route] = k.split('\t') as [string, string];
    return {
      method,
      route,
      requests: r.counts[n] as number,
      errors: r.errors,
      p50: bucketQuantile(0.5, bounds, r.counts),
      p95: bucketQuantile(0.95, bounds, r.counts),
      p99: bucketQuantile(0.99, bounds, r.counts),
    };
  });
  rows.sort((a, b) => b.requests - a.requests || compare(a.route, b.route) || compare(a.method, b.method));
  const q = (p: number): number | null => bucketQuantile(p, bounds, all);
  return {
    source: 'metrics',
    container,
    requests,
    status,
    errorRate: requests === 0 ? 0 : round(status['5xx'] / requests),
    duration:
      requests === 0
        ? null
        : { p50: q(0.5) as number, p95: q(0.95) as number, p99: q(0.99) as number, max: topBound(bounds, all) },
    routes: rows,
    since: new Date(sinceMs).toISOString(),
    seconds: Math.round((nowMs - sinceMs) / 1000),
  };
}

async function waitForLock(file: string, problems: string[]): Promise<Lock | null> {
  try {
    const lock = await acquireLockWaiting(file, LOCK_WAIT_MS);
    if ('release' in lock) return lock;
    problems.push(`app metrics: another run (pid ${lock.heldBy ?? '?'}) holds the state; this run keeps nothing`);
  } catch (err) {
    problems.push(`app metrics state not kept: ${describeError(err)}`);
  }
  return null;
}

async function loadState(file: string, problems: string[]): Promise<AppMetricsState> {
  const fresh: AppMetricsState = { version: 1, horizonMs: MIN_HORIZON_MS, endpoints: {} };
  const read = await readJsonState(file);
  if (read.status === 'missing') return fresh;
  const data = read.status === 'ok' ? (read.data as Partial<AppMetricsState> | null) : null;
  if (!data || data.version !== 1 || typeof data.endpoints !== 'object' || data.endpoints === null) {
    problems.push(`app metrics state ${file} was unreadable and starts again`);
    return fresh;
  }
  return { ...fresh, ...data } as AppMetricsState;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function round(value: number): number {
  return Number(value.toPrecision(4));
}
