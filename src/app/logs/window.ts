/**
 * The figures of a window (`--app-window`) from the stored minute buckets: what `app` in
 * `mizual-metrics --json` shows and what the checks of mizual-alerts judge.
 */
import type { HttpFigure, RouteFigure, RuleFigure, TaskFigure } from '../model.js';
import { mergeSketch, sketchQuantiles, type Sketch } from './sketch.js';
import type { MinuteBucket } from './tally.js';

/** Routes shown per container: the top by requests, then the top by errors; the rest are `other`. */
export const MAX_ROUTES = 20;
const TOP_BY_ERRORS = 5;

interface Acc {
  n: number;
  s: Sketch | null;
  max: number;
}

function addDurations(acc: Acc, from: { s?: Sketch; max?: number }): void {
  if (from.s) mergeSketch((acc.s ??= {}), from.s);
  if (from.max !== undefined && from.max > acc.max) acc.max = from.max;
}

function durations3(acc: Acc): { p50: number; p95: number; max: number } | null {
  const q = acc.s ? sketchQuantiles(acc.s, [0.5, 0.95]) : null;
  return q ? { p50: q[0] as number, p95: q[1] as number, max: round(acc.max) } : null;
}

/** The buckets that overlap the window `[sinceMs, untilMs]` (minute resolution). */
export function bucketsIn(buckets: MinuteBucket[], sinceMs: number, untilMs: number): MinuteBucket[] {
  return buckets.filter((b) => (b.m + 1) * 60_000 > sinceMs && b.m * 60_000 <= untilMs);
}

/** HTTP figures per container, busiest first. */
export function httpFigures(buckets: MinuteBucket[]): HttpFigure[] {
  const byContainer = new Map<string, Map<string, Acc & { c: Record<string, number> }>>();
  for (const b of buckets) {
    for (const [container, series] of Object.entries(b.http)) {
      let routes = byContainer.get(container);
      if (!routes) byContainer.set(container, (routes = new Map()));
      for (const [key, s] of Object.entries(series)) {
        let acc = routes.get(key);
        if (!acc) routes.set(key, (acc = { n: 0, s: null, max: 0, c: {} }));
        acc.n += s.n;
        for (const [code, n] of Object.entries(s.c)) acc.c[code] = (acc.c[code] ?? 0) + n;
        addDurations(acc, s);
      }
    }
  }
  const figures: HttpFigure[] = [];
  for (const [container, routes] of byContainer) {
    const status = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
    const all: Acc = { n: 0, s: null, max: 0 };
    const rows: (RouteFigure & { acc: Acc })[] = [];
    for (const [key, acc] of routes) {
      let errors = 0;
      for (const [code, n] of Object.entries(acc.c)) {
        const cls = `${code[0]}xx` as keyof typeof status;
        if (cls in status) status[cls] += n;
        if (code[0] === '5') errors += n;
      }
      all.n += acc.n;
      addDurations(all, { s: acc.s ?? undefined, max: acc.max });
      const sp = key.indexOf(' ');
      rows.push({ method: key.slice(0, sp), route: key.slice(sp + 1), requests: acc.n, errors, p95: null, acc });
    }
    const q = all.s ? sketchQuantiles(all.s, [0.5, 0.95, 0.99]) : null;
    figures.push({
      container,
      requests: all.n,
      status,
      errorRate: all.n === 0 ? 0 : round(status['5xx'] / all.n),
      duration: q ? { p50: q[0] as number, p95: q[1] as number, p99: q[2] as number, max: round(all.max) } : null,
      routes: topRoutes(rows),
    });
  }
  return figures.sort((a, b) => b.requests - a.requests || a.container.localeCompare(b.container));
}

function topRoutes(rows: (RouteFigure & { acc: Acc })[]): RouteFigure[] {
  const byRequests = [...rows].sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route));
  const kept = new Set(byRequests.slice(0, MAX_ROUTES - TOP_BY_ERRORS));
  const byErrors = rows.filter((r) => r.errors > 0 && !kept.has(r)).sort((a, b) => b.errors - a.errors);
  for (const r of byErrors.slice(0, TOP_BY_ERRORS)) kept.add(r);
  for (const r of byRequests) if (kept.size < MAX_ROUTES && !kept.has(r)) kept.add(r);
  const rest = rows.filter((r) => !kept.has(r));
  const out = [...kept].sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route));
  if (rest.length > 0) {
    const acc: Acc = { n: 0, s: null, max: 0 };
    let errors = 0;
    for (const r of rest) {
      acc.n += r.requests;
      errors += r.errors;
      addDurations(acc, { s: r.acc.s ?? undefined, max: r.acc.max });
    }
    out.push({ method: '*', route: 'other', requests: acc.n, errors, p95: null, acc });
  }
  return out.map(({ acc, ...r }) => ({ ...r, p95: acc.s ? (sketchQuantiles(acc.s, [0.95])?.[0] ?? null) : null }));
}

/** Celery task figures per container and task. */
export function taskFigures(buckets: MinuteBucket[]): TaskFigure[] {
  const acc = new Map<string, TaskFigure & { acc: Acc }>();
  for (const b of buckets) {
    for (const [container, series] of Object.entries(b.tasks)) {
      for (const [task, s] of Object.entries(series)) {
        const key = `${container}\t${task}`;
        let f = acc.get(key);
        if (!f) {
          f = { container, task, succeeded: 0, failed: 0, retried: 0, duration: null, acc: { n: 0, s: null, max: 0 } };
          acc.set(key, f);
        }
        f.succeeded += s.ok;
        f.failed += s.fail;
        f.retried += s.retry;
        addDurations(f.acc, s);
      }
    }
  }
  return [...acc.values()]
    .map(({ acc: a, ...f }) => ({ ...f, duration: durations3(a) }))
    .sort((a, b) => a.container.localeCompare(b.container) || a.task.localeCompare(b.task));
}

/** Rule figures per rule, container and label. */
export function ruleFigures(buckets: MinuteBucket[]): RuleFigure[] {
  const acc = new Map<string, RuleFigure & { acc: Acc }>();
  for (const b of buckets) {
    for (const [container, series] of Object.entries(b.rules)) {
      for (const [key, s] of Object.entries(series)) {
        const [name, label] = key.split('\t') as [string, string];
        const k = `${name}\t${container}\t${label}`;
        let f = acc.get(k);
        if (!f) {
          f = {
            name,
            container,
            label: label === '' ? null : label,
            count: 0,
            duration: null,
            acc: { n: 0, s: null, max: 0 },
          };
          acc.set(k, f);
        }
        f.count += s.n;
        addDurations(f.acc, s);
      }
    }
  }
  return [...acc.values()]
    .map(({ acc: a, ...f }) => ({ ...f, duration: durations3(a) }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.container.localeCompare(b.container));
}

function round(value: number): number {
  return Number(value.toPrecision(4));
}
