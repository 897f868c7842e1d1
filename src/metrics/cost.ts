/**
 * What the box wastes and what we cost, from the kept history and the shipper's record: each
 * container's 7-day memory peak and p95 against its limit, the host's peak against its RAM, the CPU
 * seconds per day and peak RSS of our own cron runs, and the logs' stored bytes and projected cost.
 */
import { DEFAULT_PRICES, shipCostFigures, type ShipCostFigures } from '../core/cost.js';
import { readShipUsage } from '../core/ship-state.js';
import { pointsOf } from '../history/store.js';
import type { Segment } from '../history/model.js';
import { seriesKey } from '../history/model.js';

export type MemoryVerdict = 'near-limit' | 'oversized' | 'ok' | 'no-limit';

export interface MemoryFit {
  container: string;
  limitBytes: number | null;
  peakBytes7d: number | null;
  p95Bytes7d: number | null;
  verdict: MemoryVerdict;
}

export interface CostFigures {
  memoryFit: MemoryFit[];
  hostMemoryFit: { totalBytes: number | null; peakUsedBytes7d: number | null; p95UsedBytes7d: number | null };
  /** Our own cron runs (mizual-alerts), from the history: CPU seconds per day, peak RSS, runs counted. */
  self: {
    cpuSecondsPerDay: number | null;
    peakRssBytes: number | null;
    runs: number;
    days: number;
    alerts: ToolCost;
    shipLogs: ToolCost | null;
  };
  /** The logs' cost from the shipper's record (null when the shipper has not recorded any here). */
  shipCost: ShipCostFigures | null;
}

const DAY_MS = 86_400_000;

/** One tool's own cost: CPU seconds a day, the peak RSS of a run, runs counted. */
export interface ToolCost {
  cpuSecondsPerDay: number | null;
  peakRssBytes: number | null;
  runs: number;
}

/** The peak is within 10% of the limit: the next OOM kill. Under a third: memory the box could use elsewhere. */
export function memoryVerdict(limit: number | null, peak: number | null): MemoryVerdict {
  if (limit === null || limit <= 0) return 'no-limit';
  if (peak === null) return 'ok';
  if (peak >= 0.9 * limit) return 'near-limit';
  if (peak < limit / 3) return 'oversized';
  return 'ok';
}

function p95(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)] as number;
}

const valuesSince = (segments: readonly Segment[], key: string, sinceMs: number): number[] =>
  pointsOf(segments, key)
    .filter((p): p is [number, number] => p[1] !== null && p[0] >= sinceMs)
    .map((p) => p[1]);

/** The figures from a week of history, the containers' limits now, and the shipper's record. */
export async function costFigures(options: {
  segments: readonly Segment[];
  containers: readonly { name: string; memoryLimitBytes?: number | null }[];
  nowMs: number;
  stateDir: string;
  retentionDays: number;
}): Promise<CostFigures> {
  const since = options.nowMs - 7 * DAY_MS;
  const memoryFit = options.containers.map((c): MemoryFit => {
    const values = valuesSince(options.segments, seriesKey('ctr.mem', c.name), since);
    const peak = values.length > 0 ? Math.max(...values) : null;
    const limit = c.memoryLimitBytes ?? null;
    return {
      container: c.name,
      limitBytes: limit,
      peakBytes7d: peak,
      p95Bytes7d: p95(values),
      verdict: memoryVerdict(limit, peak),
    };
  });
  const totals = valuesSince(options.segments, 'mem.total', since);
  const totalPoints = pointsOf(options.segments, 'mem.total');
  const used = pointsOf(options.segments, 'mem.avail')
    .map((p, i): number | null => {
      const total = totalPoints[i]?.[1] ?? null;
      return p[0] >= since && p[1] !== null && total !== null ? total - p[1] : null;
    })
    .filter((v): v is number => v !== null);
  const cpu = pointsOf(options.segments, 'self.cpu-seconds').filter(
    (p): p is [number, number] => p[1] !== null && p[0] >= since,
  );
  const rss = valuesSince(options.segments, 'self.rss', since);
  const spanDays =
    cpu.length > 1
      ? Math.max(1 / 24, ((cpu.at(-1) as [number, number])[0] - (cpu[0] as [number, number])[0]) / DAY_MS)
      : 0;
  // The runs per day seen, times the mean CPU of a run: the gap before the first run is not counted.
  const cpuSecondsPerDay = cpu.length > 1 ? cpu.slice(1).reduce((n, p) => n + p[1], 0) / spanDays : null;
  const usage = await readShipUsage(options.stateDir);
  // The shipper's own runs, from its record: the days of the last week it ran on.
  const shipDays = Object.entries(usage?.self ?? {}).filter(
    ([day]) => Date.parse(`${day}T00:00:00Z`) >= since - DAY_MS,
  );
  const shipCpu = shipDays.reduce((n, [, v]) => n + v.cpuSeconds, 0);
  const recordedSince = Date.parse(usage?.since ?? '');
  const shipSpan = Math.min(
    7,
    Math.max(1 / 24, (options.nowMs - Math.max(since, Number.isNaN(recordedSince) ? since : recordedSince)) / DAY_MS),
  );
  const shipPeak = shipDays.reduce((n, [, v]) => Math.max(n, v.peakRssBytes), 0);
  return {
    memoryFit,
    hostMemoryFit: {
      totalBytes: totals.length > 0 ? (totals.at(-1) as number) : null,
      peakUsedBytes7d: used.length > 0 ? Math.max(...used) : null,
      p95UsedBytes7d: p95(used),
    },
    self: {
      cpuSecondsPerDay:
        cpuSecondsPerDay === null && shipDays.length === 0 ? null : (cpuSecondsPerDay ?? 0) + shipCpu / shipSpan,
      peakRssBytes: rss.length > 0 || shipPeak > 0 ? Math.max(shipPeak, ...rss) : null,
      runs: cpu.length,
      days: spanDays,
      alerts: { cpuSecondsPerDay, peakRssBytes: rss.length > 0 ? Math.max(...rss) : null, runs: cpu.length },
      shipLogs:
        shipDays.length > 0
          ? {
              cpuSecondsPerDay: shipCpu / shipSpan,
              peakRssBytes: shipPeak,
              runs: shipDays.reduce((n, [, v]) => n + v.runs, 0),
            }
          : null,
    },
    shipCost: usage ? shipCostFigures(usage, options.nowMs, options.retentionDays, DEFAULT_PRICES) : null,
  };
}
