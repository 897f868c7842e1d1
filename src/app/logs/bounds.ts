/**
 * Keeping `app-logs.json` small whatever the windows asked: minutes older than an hour are merged into
 * 10-minute buckets, older than six hours into hourly ones, and each container's part of the buckets
 * has a hard ceiling (past it, old buckets keep only their busiest routes, then the oldest go). The
 * figures of a window stay exact in counts; only old minutes lose detail.
 */
import { mergeBucket, type HttpSeries, type MinuteBucket } from './tally.js';
import { mergeSketch } from './sketch.js';

/** Bytes of JSON one container's buckets may take in the state. */
export const CONTAINER_CEILING_BYTES = 768 * 1024;
const FINE_MS = 3_600_000;
const MEDIUM_MS = 6 * 3_600_000;
/** Routes an old bucket keeps per container once over the ceiling. */
const TRIMMED_ROUTES = 20;

/** Merge old minutes into coarser buckets (10 minutes past an hour, 60 past six hours). */
export function compactBuckets(buckets: MinuteBucket[], nowMs: number): MinuteBucket[] {
  const out = new Map<string, MinuteBucket>();
  for (const b of buckets) {
    const age = nowMs - b.m * 60_000;
    const width = age > MEDIUM_MS ? 60 : age > FINE_MS ? 10 : 1;
    if ((b.w ?? 1) >= width) {
      out.set(`${b.m}/${b.w ?? 1}`, b);
      continue;
    }
    const m = Math.floor(b.m / width) * width;
    const key = `${m}/${width}`;
    const into = out.get(key);
    if (into) {
      mergeBucket(into, b);
    } else {
      const fresh: MinuteBucket = { m, w: width, http: {}, tasks: {}, rules: {} };
      mergeBucket(fresh, b);
      out.set(key, fresh);
    }
  }
  return [...out.values()].sort((a, b) => a.m - b.m);
}

/** Hold each container's part of the buckets under `ceiling` bytes of JSON; returns the containers cut. */
export function boundBuckets(buckets: MinuteBucket[], ceiling = CONTAINER_CEILING_BYTES): string[] {
  const containers = new Set<string>();
  for (const b of buckets) {
    for (const c of Object.keys(b.http)) containers.add(c);
    for (const c of Object.keys(b.tasks)) containers.add(c);
    for (const c of Object.keys(b.rules)) containers.add(c);
  }
  const cut: string[] = [];
  for (const c of containers) {
    const sizes = buckets.map((b) => partSize(b, c));
    let total = sizes.reduce((a, n) => a + n, 0);
    if (total <= ceiling) continue;
    cut.push(c);
    // First the detail of old buckets (oldest first): the busiest routes stay, the rest become `other`.
    for (let i = 0; i < buckets.length && total > ceiling; i++) {
      const b = buckets[i] as MinuteBucket;
      trimRoutes(b, c);
      const size = partSize(b, c);
      total += size - (sizes[i] as number);
      sizes[i] = size;
    }
    // Then the oldest buckets themselves.
    for (let i = 0; i < buckets.length && total > ceiling; i++) {
      const b = buckets[i] as MinuteBucket;
      delete b.http[c];
      delete b.tasks[c];
      delete b.rules[c];
      if (b.l) delete b.l[c];
      total -= sizes[i] as number;
      sizes[i] = 0;
    }
  }
  return cut;
}

function partSize(b: MinuteBucket, c: string): number {
  return (
    JSON.stringify(b.http[c] ?? null).length +
    JSON.stringify(b.tasks[c] ?? null).length +
    JSON.stringify(b.rules[c] ?? null).length
  );
}

function trimRoutes(b: MinuteBucket, c: string): void {
  const series = b.http[c];
  if (!series) return;
  const entries = Object.entries(series).sort((x, y) => y[1].n - x[1].n);
  if (entries.length <= TRIMMED_ROUTES) return;
  const kept: Record<string, HttpSeries> = {};
  for (const [key, s] of entries.slice(0, TRIMMED_ROUTES)) kept[key] = s;
  for (const [key, s] of entries.slice(TRIMMED_ROUTES)) {
    const other = `${key.slice(0, key.indexOf(' '))} other`;
    const into = (kept[other] ??= { n: 0, c: {} });
    into.n += s.n;
    for (const [code, n] of Object.entries(s.c)) into.c[code] = (into.c[code] ?? 0) + n;
    if (s.s) mergeSketch((into.s ??= {}), s.s);
    if (s.max !== undefined && (into.max === undefined || s.max > into.max)) into.max = s.max;
  }
  b.http[c] = kept;
}
