/**
 * From stored samples to the series `--history` draws and prints: counters turned into rates (a counter
 * that went back, a reboot, a restart or a deploy breaks the line instead of drawing a negative spike),
 * and a null point wherever the box was off, so no line is drawn across a gap.
 */
import type { Thresholds } from '../core/thresholds.js';
import { formatBytes } from '../core/units.js';
import { decodeValue, SERIES, specOf, type Segment, type SeriesSpec, type StoredEvent } from './model.js';

/** [epoch ms, value]; a null value breaks the line. */
export type Point = [number, number | null];

/** A series' values aligned with the sample times (one shared array), as read: cheap for a week of samples. */
export interface Line {
  times: readonly number[];
  values: readonly (number | null)[];
  /** True where the samples before and at i are a gap apart (the box was off). */
  gapBefore: readonly boolean[];
}

export interface Series {
  key: string;
  name: string;
  labels: Record<string, string>;
  unit: string;
  /** The points inside the range (made on first use: the charts read `line`). */
  readonly points: Point[];
  line: Line;
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
  // One aligned column per series (no tuple per sample until the output): a week of sixty series stays cheap.
  const gapBefore = times.map((t, i) => i > 0 && t - (times[i - 1] as number) > gapMs);
  return known.map(({ key, spec, labelValue }) => {
    const values: (number | null)[] = [];
    for (const seg of segments) {
      const column = seg.s[key];
      for (let i = 0; i < seg.t.length; i++) values.push(column ? decodeValue(key, column[i]) : null);
    }
    const resets = new Set([...(breaks.get('host') ?? []), ...(labelValue ? (breaks.get(labelValue) ?? []) : [])]);
    const shown = spec.kind === 'counter' ? toRates(values, times, gapBefore, resets, spec.rateScale ?? 1) : values;
    let points: Point[] | undefined;
    return {
      key,
      name: spec.name,
      labels: spec.label && labelValue !== null ? { [spec.label]: labelValue } : {},
      unit: spec.unit,
      get points(): Point[] {
        points ??= toPoints(shown, times, gapBefore, sinceMs, untilMs);
        return points;
      },
      line: { times, values: shown, gapBefore },
      threshold: thresholdOf(spec, thresholds, lastTotal),
      alertBelow: spec.threshold === 'memory',
      hidden: spec.hidden === true,
    };
  });
}

function lastValue(segments: readonly Segment[], key: string): number | null {
  for (const seg of [...segments].reverse()) {
    const v = [...(seg.s[key] ?? [])].reverse().find((x) => typeof x === 'number' && Number.isFinite(x));
    if (v !== undefined && v !== null) return decodeValue(key, v);
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
function toRates(
  values: readonly (number | null)[],
  times: readonly number[],
  gapBefore: readonly boolean[],
  resets: ReadonlySet<number>,
  scale: number,
): (number | null)[] {
  return values.map((v, i) => {
    const prev = i > 0 ? values[i - 1] : null;
    const t = times[i] as number;
    if (v === null || prev === null || prev === undefined || gapBefore[i] || v < prev || resets.has(t)) return null;
    const seconds = (t - (times[i - 1] as number)) / 1000;
    return Math.round(((v - prev) / seconds) * scale * 1000) / 1000;
  });
}

/** The points inside [sinceMs, untilMs]: a null point where the box was off, repeated nulls dropped. */
function toPoints(
  values: readonly (number | null)[],
  times: readonly number[],
  gapBefore: readonly boolean[],
  sinceMs: number,
  untilMs: number,
): Point[] {
  const out: Point[] = [];
  let open = false;
  for (let i = 0; i < values.length; i++) {
    const t = times[i] as number;
    if (t < sinceMs || t > untilMs) continue;
    if (gapBefore[i] && open) {
      out.push([(times[i - 1] as number) + 1, null]);
      open = false;
    }
    const v = values[i] as number | null;
    if (v !== null || open) out.push([t, v]);
    open = v !== null;
  }
  return out;
}

/**
 * Per column of a plot over [sinceMs, untilMs]: the lowest and highest value, a sample's value held across
 * the columns up to the next sample (undefined where none: a gap, before the first, after the last);
 * and the series' min, max and last in the range.
 */
export function columnRanges(line: Line, plot: number, sinceMs: number, untilMs: number) {
  const lo: (number | undefined)[] = new Array(plot).fill(undefined);
  const hi: (number | undefined)[] = new Array(plot).fill(undefined);
  const span = Math.max(1, untilMs - sinceMs);
  let min = Infinity;
  let max = -Infinity;
  let last: number | null = null;
  let prevCol = -1;
  let prev: number | null = null;
  for (let i = 0; i < line.times.length; i++) {
    const t = line.times[i] as number;
    if (t < sinceMs || t > untilMs) continue;
    const v = line.values[i] as number | null;
    if (line.gapBefore[i]) prev = null;
    if (v === null) {
      prev = null;
      continue;
    }
    const c = Math.min(plot - 1, Math.floor(((t - sinceMs) / span) * plot));
    if (prev !== null) {
      for (let k = prevCol + 1; k < c; k++) {
        if (hi[k] !== undefined) continue;
        lo[k] = prev;
        hi[k] = prev;
      }
    }
    lo[c] = Math.min(lo[c] ?? v, v);
    hi[c] = Math.max(hi[c] ?? v, v);
    if (v < min) min = v;
    if (v > max) max = v;
    prev = v;
    prevCol = c;
    last = v;
  }
  return { lo, hi, stats: last === null ? null : { min, max, last } };
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
