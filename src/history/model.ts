// The kept samples behind `mizual-metrics --history` and the forecasts of mizual-alerts: one home for
// their shape on disk and for the figures they hold.

export const HISTORY_FORMAT = 'mizual-history';
/** Bumped only for a change an older reader would misread; additions (new series, new fields) keep it. */
export const HISTORY_VERSION = 1;
/** `<MIZUAL_STATE_DIR>/history/<YYYY-MM-DD>.json`, one segment per UTC day. */
export const HISTORY_DIR = 'history';
export const DEFAULT_HISTORY_DAYS = 7;

/** One run's figures, keyed by series key (`cpu`, `fs.pct|/`, `ctr.mem|mizual-backend`). */
export type SampleValues = Record<string, number | null>;

/** What happened between two runs, marked on the charts' time axis. */
export type EventKind = 'restart' | 'deploy' | 'oom' | 'reboot' | 'appeared' | 'removed';

/** [epoch seconds, kind, subject (a container name or `host`), count]. */
export type StoredEvent = [number, EventKind, string, number];

/** What the next run compares against that is not a figure: the boot, each container's identity. */
export interface RunMemory {
  bootId: string | null;
  /** `oom_kill` from /proc/vmstat; null before the first reading. */
  oomKills: number | null;
  containers: Record<string, { id: string; restartCount: number; finishedAt: string | null }>;
}

/** One UTC day of samples, columnar: `s[key][i]` is the value at `t[i]` (null when not read that run). */
export interface Segment {
  format: typeof HISTORY_FORMAT;
  version: number;
  day: string;
  /** Sample times, epoch seconds, ascending. */
  t: number[];
  s: Record<string, (number | null)[]>;
  e: StoredEvent[];
  /** The memory after the day's last run. */
  last: RunMemory | null;
}

export type SeriesKind = 'gauge' | 'counter';

export interface SeriesSpec {
  /** The key's part before `|`. */
  prefix: string;
  /** The name in `--json` and on the chart. */
  name: string;
  /** The label the key's part after `|` fills. */
  label?: string;
  unit: string;
  /** Counters are stored as read and drawn as a rate per second (a counter going back is a reset, not a dip). */
  kind: SeriesKind;
  /** A rate is multiplied by this (container CPU ms per second × 0.1 = % of one core). */
  rateScale?: number;
  /** Kept for the forecasts and --json, not drawn. */
  hidden?: boolean;
  /** Which alert threshold is drawn on it. */
  threshold?: 'cpu' | 'memory' | 'disk';
  /**
   * Stored as the integer round(value × scale): KiB for bytes, tenths of a percent, milliseconds. Integers
   * parse several times faster than decimals and keep a week of samples a quarter smaller.
   */
  scale: number;
}

const KIB = 1 / 1024;

/** Every figure a sample may hold, in the order the charts are stacked. */
export const SERIES: readonly SeriesSpec[] = [
  { prefix: 'cpu', name: 'cpu', unit: '%', kind: 'gauge', threshold: 'cpu', scale: 10 },
  { prefix: 'load1', name: 'load', unit: 'load', kind: 'gauge', scale: 100 },
  { prefix: 'mem.avail', name: 'memory available', unit: 'bytes', kind: 'gauge', threshold: 'memory', scale: KIB },
  { prefix: 'mem.total', name: 'memory total', unit: 'bytes', kind: 'gauge', hidden: true, scale: KIB },
  { prefix: 'swap.used', name: 'swap used', unit: 'bytes', kind: 'gauge', scale: KIB },
  { prefix: 'fs.pct', name: 'filesystem use', label: 'mount', unit: '%', kind: 'gauge', threshold: 'disk', scale: 10 },
  {
    prefix: 'fs.used',
    name: 'filesystem used',
    label: 'mount',
    unit: 'bytes',
    kind: 'gauge',
    hidden: true,
    scale: KIB,
  },
  // Counters are kept exact: a rounded counter can read as going back (a reset) on a quiet interface.
  { prefix: 'net.rx', name: 'network in', label: 'iface', unit: 'bytes/s', kind: 'counter', scale: 1 },
  { prefix: 'net.tx', name: 'network out', label: 'iface', unit: 'bytes/s', kind: 'counter', scale: 1 },
  {
    prefix: 'ctr.cpu',
    name: 'container cpu',
    label: 'container',
    unit: '%',
    kind: 'counter',
    rateScale: 0.1,
    scale: 1,
  },
  { prefix: 'ctr.mem', name: 'container memory', label: 'container', unit: 'bytes', kind: 'gauge', scale: KIB },
  { prefix: 'ctr.restarts', name: 'container restarts', label: 'container', unit: 'count', kind: 'gauge', scale: 1 },
  { prefix: 'ctr.up', name: 'container running', label: 'container', unit: 'state', kind: 'gauge', scale: 1 },
  { prefix: 'app.rps', name: 'requests', label: 'container', unit: 'requests/s', kind: 'gauge', scale: 1000 },
  { prefix: 'app.5xx', name: '5xx rate', label: 'container', unit: '%', kind: 'gauge', scale: 10 },
  { prefix: 'app.p95', name: 'p95 latency', label: 'container', unit: 'seconds', kind: 'gauge', scale: 1000 },
  { prefix: 'task.failed', name: 'task failures', label: 'container', unit: 'count', kind: 'gauge', scale: 1 },
  { prefix: 'queue', name: 'queue length', label: 'queue', unit: 'count', kind: 'gauge', scale: 1 },
  { prefix: 'probe', name: 'probe time', label: 'probe', unit: 'seconds', kind: 'gauge', scale: 1000 },
  { prefix: 'db.conn', name: 'db connections', unit: 'count', kind: 'gauge', scale: 1 },
  { prefix: 'db.longest', name: 'db longest query', unit: 'seconds', kind: 'gauge', scale: 10 },
  // The alerts run's own cost, recorded by the run itself (CPU seconds of the process, its peak RSS).
  { prefix: 'self.cpu-seconds', name: 'self.cpu-seconds', unit: 'seconds', kind: 'gauge', scale: 1000 },
  { prefix: 'self.rss', name: 'self.rss', unit: 'bytes', kind: 'gauge', scale: KIB },
];

const BY_PREFIX = new Map(SERIES.map((s) => [s.prefix, s]));

/** The spec and label value of a stored key; undefined for a key this version does not know (a newer writer's). */
export function specOf(key: string): { spec: SeriesSpec; labelValue: string | null } | undefined {
  const bar = key.indexOf('|');
  const spec = BY_PREFIX.get(bar === -1 ? key : key.slice(0, bar));
  if (!spec) return undefined;
  return { spec, labelValue: bar === -1 ? null : key.slice(bar + 1) };
}

/** The integer a value is stored as (a key this version does not know is stored as given). */
export function encodeValue(key: string, value: number): number {
  const scale = specOf(key)?.spec.scale ?? 1;
  return Math.round(value * scale);
}

/** The value a stored number stands for; null for anything that is not a finite number. */
export function decodeValue(key: string, stored: unknown): number | null {
  if (typeof stored !== 'number' || !Number.isFinite(stored)) return null;
  const scale = specOf(key)?.spec.scale ?? 1;
  return scale === 1 ? stored : stored / scale;
}

/** The key of a figure with a label value: `fs.pct|/`. */
export const seriesKey = (prefix: string, label?: string): string =>
  label === undefined ? prefix : `${prefix}|${label}`;
