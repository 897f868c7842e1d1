/**
 * From stored samples to the series `--history` draws and prints: counters turned into rates (a counter
 * that went back, a reboot, a restart or a deploy breaks the line instead of drawing a negative spike),
 * and a null point wherever the box was off, so no line is drawn across a gap.
 */
import type { Thresholds } from '../core/thresholds.js';
import { formatBytes } from '../core/units.js';
import { SERIES, specOf, type Segment, type SeriesSpec, type StoredEvent } from './model.js';

/** [epoch ms, value]; a null value breaks the line. */
export type Point = [number, number | null];

export interface Series {
  key: string;
  name: string;
  labels: Record<string, string>;
  unit: string;
  points: Point[];
  /** The alert threshold in the series' unit, when one applies. */
  threshold: number | null;
  /** The alert fires below the threshold (memory available), not above it. */
  alertBelow: boolean;
  hidden: boolean;
}

export interface HistoryEvent {
  time: string;
  /** WARNING, CRITICAL, RESOLVED from the alert log; INFO for restarts, deploys, OOM kills and reboots. */
  severity: string;
  check: string;
  message: string;
}

export interface HistoryData {
  since: string;
  until: string;
  series: Series[];
  events: HistoryEvent[];
}

/** Samples further apart than this many typical intervals mean the box (or cron) was off. */
const GAP_FACTOR = 2.5;
const DEFAULT_SPACING_MS = 300_000;

/** The usual time between samples (median), and the distance past which two samples are a gap. */
export function gapAfter(times: readonly number[]): number {
  const steps = times
    .slice(1)
    .map((t, i) => t - (times[i] as number))
    .filter((d) => d > 0)
    .sort((a, b) => a - b);
  const median = steps.length > 0 ? (steps[Math.floor(steps.length / 2)] as number) : DEFAULT_SPACING_MS;
  return median * GAP_FACTOR;
}

const EVENT_TEXT: Record<string, (subject: string, n: number) => string> = {
  restart: (s, n) => `${s} restarted${n > 1 ? ` ${n} times` : ''}`,
  deploy: (s) => `${s} replaced by a new container (deploy)`,
  oom: (s, n) => (s === 'host' ? `the kernel OOM-killed ${n} process${n === 1 ? '' : 'es'}` : `${s} OOM-killed`),
  reboot: () => 'the host rebooted',
  appeared: (s) => `${s} appeared`,
  removed: (s) => `${s} removed`,
};

/** The restarts, deploys, OOM kills and reboots kept in the store, as events. */
export function storedEvents(segments: readonly Segment[], sinceMs: number, untilMs: number): HistoryEvent[] {
  return segments
    .flatMap((s) => s.e)
    .filter((e) => e[0] * 1000 >= sinceMs && e[0] * 1000 <= untilMs)
    .map(([t, kind, subject, n]) => ({
      time: new Date(t * 1000).toISOString().replace('.000Z', 'Z'),
      severity: 'INFO',
      check: `${kind}:${subject}`,
      message: (EVENT_TEXT[kind] ?? ((s: string) => `${kind} ${s}`))(subject, n),
    }));
}

/** Every series kept in [sinceMs, untilMs], in the order of SERIES then by label. */
export function buildSeries(
  segments: readonly Segment[],
  sinceMs: number,
  untilMs: number,
  thresholds: Thresholds,
): Series[] {
  const times: number[] = segments.flatMap((s) => s.t.map((t) => t * 1000));
  const gapMs = gapAfter(times);
  const breaks = new Map<string, Set<number>>();
  for (const [t, kind, subject] of segments.flatMap((s) => s.e) as StoredEvent[]) {
    if (kind === 'oom' || kind === 'appeared') continue;
    const set = breaks.get(subject) ?? new Set<number>();
    set.add(t * 1000);
    breaks.set(subject, set);
  }
  const keys = [...new Set(segments.flatMap((s) => Object.keys(s.s)))];
  const known = keys
    .map((key) => ({ key, ...specOf(key) }))
    .filter((k): k is { key: string; spec: SeriesSpec; labelValue: string | null } => k.spec !== undefined)
    .sort(
      (a, b) =>
        SERIES.indexOf(a.spec) - SERIES.indexOf(b.spec) || (a.labelValue ?? '').localeCompare(b.labelValue ?? ''),
    );
  const lastTotal = lastValue(segments, 'mem.total');
  return known.map(({ key, spec, labelValue }) => {
    const raw: Point[] = [];
    for (const seg of segments) {
      const column = seg.s[key];
      seg.t.forEach((t, i) => raw.push([t * 1000, column?.[i] ?? null]));
    }
    const resets = new Set([...(breaks.get('host') ?? []), ...(labelValue ? (breaks.get(labelValue) ?? []) : [])]);
    const values = spec.kind === 'counter' ? toRates(raw, gapMs, resets, spec.rateScale ?? 1) : raw;
    return {
      key,
      name: spec.name,
      labels: spec.label && labelValue !== null ? { [spec.label]: labelValue } : {},
      unit: spec.unit,
      points: withGaps(values, gapMs).filter(([t]) => t >= sinceMs && t <= untilMs),
      threshold: thresholdOf(spec, thresholds, lastTotal),
      alertBelow: spec.threshold === 'memory',
      hidden: spec.hidden === true,
    };
  });
}

function lastValue(segments: readonly Segment[], key: string): number | null {
  for (const seg of [...segments].reverse()) {
    const v = [...(seg.s[key] ?? [])].reverse().find((x) => x !== null);
    if (v !== undefined && v !== null) return v;
  }
  return null;
}

function thresholdOf(spec: SeriesSpec, t: Thresholds, memTotal: number | null): number | null {
  if (spec.threshold === 'cpu') return t.cpu;
  if (spec.threshold === 'disk') return t.disk;
  // Memory is kept as bytes available: the alert fires when they fall below (100 - threshold)% of the total.
  if (spec.threshold === 'memory' && memTotal !== null) return Math.round(memTotal * (1 - t.memory / 100));
  return null;
}

/** Per-second rates between consecutive readings; null after a gap, a reset or a counter that went back. */
function toRates(points: readonly Point[], gapMs: number, resets: ReadonlySet<number>, scale: number): Point[] {
  const out: Point[] = [];
  let prev: [number, number] | null = null;
  for (const [t, v] of points) {
    if (v === null) {
      out.push([t, null]);
      prev = null;
      continue;
    }
    if (prev && t - prev[0] <= gapMs && v >= prev[1] && !resets.has(t)) {
      out.push([t, Math.round(((v - prev[1]) / ((t - prev[0]) / 1000)) * scale * 1000) / 1000]);
    } else {
      out.push([t, null]);
    }
    prev = [t, v];
  }
  return out;
}

/** Insert a null point where consecutive samples are a gap apart, and drop repeated nulls. */
function withGaps(points: readonly Point[], gapMs: number): Point[] {
  const out: Point[] = [];
  let prevT: number | null = null;
  for (const [t, v] of points) {
    if (prevT !== null && t - prevT > gapMs && out.at(-1)?.[1] !== null) out.push([prevT + 1, null]);
    if (v !== null || (out.length > 0 && out.at(-1)?.[1] !== null)) out.push([t, v]);
    prevT = t;
  }
  return out;
}

/** A value in its unit, short enough for a chart's label (at most 9 characters). */
export function formatValue(value: number, unit: string): string {
  const num = (n: number): string =>
    Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2).replace(/\.?0+$/, '') || '0';
  switch (unit) {
    case '%':
      return `${num(value)}%`;
    case 'bytes':
      return formatBytes(value).replace(' ', '').replace('iB', '');
    case 'bytes/s':
      return `${formatBytes(value).replace(' ', '').replace('iB', '')}/s`;
    case 'seconds':
      return value < 1 ? `${Math.round(value * 1000)}ms` : `${num(value)}s`;
    case 'requests/s':
      return `${num(value)}/s`;
    default:
      return num(value);
  }
}
