/**
 * What stored logs cost: the prices (settings with defaults, never claims), the daily rate over a
 * window, the steady state at the retention, and the monthly cost. One home for the arithmetic that
 * `mizual-fetch-logs --usage` (from the bucket), the `cost` alert and `--prometheus` (from the
 * shipper's own record) share.
 */
import type { ShipUsage } from './ship-state.js';

/** B2's list price when this was written, USD per TB (10^12 bytes) and month: a default, `--price-per-tb` changes it. */
export const DEFAULT_PRICE_PER_TB = 6;
/** B2 bills nothing for the first 10 GB stored (per account). */
export const DEFAULT_FREE_GB = 10;

export interface Prices {
  pricePerTb: number;
  freeGb: number;
}

export const DEFAULT_PRICES: Prices = { pricePerTb: DEFAULT_PRICE_PER_TB, freeGb: DEFAULT_FREE_GB };

const DAY_MS = 86_400_000;

/** A month of bytes stored at the price, less the free bytes. */
export function monthlyCost(bytes: number, prices: Prices): number {
  return (Math.max(0, bytes - prices.freeGb * 1e9) / 1e12) * prices.pricePerTb;
}

/**
 * Bytes added per day over the last `days` days: what was stored inside the window, over the window,
 * or over the time since recording began when that is shorter (at least one day, so a first hour does
 * not project a year).
 */
export function perDay(
  items: Iterable<{ timeMs: number; bytes: number }>,
  nowMs: number,
  days: number,
  firstMs: number,
): number {
  const start = nowMs - days * DAY_MS;
  let bytes = 0;
  for (const item of items) if (item.timeMs > start && item.timeMs <= nowMs) bytes += item.bytes;
  const spanMs = Math.max(DAY_MS, Math.min(days * DAY_MS, nowMs - firstMs));
  return (bytes / spanMs) * DAY_MS;
}

/** The bytes held at retention when `perDayBytes` keep coming: what the bucket grows to and stays at. */
export function steadyState(perDayBytes: number, retentionDays: number): number {
  return perDayBytes * retentionDays;
}

/** What the shipper's own record says: stored bytes per container now, the 7-day rate, the projection. */
export interface ShipCostFigures {
  /** Compressed bytes per entry label (container short name, `alerts`) within the retention. */
  storedBytes: Record<string, number>;
  bytes: number;
  perDay7: number;
  steadyStateBytes: number;
  projectedMonthlyCost: number;
  prices: Prices;
}

/** The first instant of a `YYYY-MM-DD` UTC day, or NaN. */
function dayStartMs(date: string): number {
  return Date.parse(`${date}T00:00:00Z`);
}

/**
 * Figures from the shipper's record (per UTC day): days before the retention cutoff are gone from the
 * bucket (prune), a day's bytes count at the middle of what of it has passed.
 */
export function shipCostFigures(
  usage: ShipUsage,
  nowMs: number,
  retentionDays: number,
  prices: Prices,
): ShipCostFigures {
  const cutoffMs = dayStartMs(new Date(nowMs - Math.max(1, retentionDays) * DAY_MS).toISOString().slice(0, 10));
  const storedBytes: Record<string, number> = {};
  const items: { timeMs: number; bytes: number }[] = [];
  let bytes = 0;
  for (const [date, labels] of Object.entries(usage.days)) {
    const start = dayStartMs(date);
    if (Number.isNaN(start) || start < cutoffMs) continue;
    let dayBytes = 0;
    for (const [label, n] of Object.entries(labels)) {
      storedBytes[label] = (storedBytes[label] ?? 0) + n;
      dayBytes += n;
    }
    bytes += dayBytes;
    items.push({ timeMs: Math.min(nowMs, start + DAY_MS / 2), bytes: dayBytes });
  }
  const since = Date.parse(usage.since);
  const rate = perDay(items, nowMs, 7, Number.isNaN(since) ? nowMs : since);
  const steady = steadyState(rate, retentionDays);
  return {
    storedBytes,
    bytes,
    perDay7: rate,
    steadyStateBytes: steady,
    projectedMonthlyCost: monthlyCost(steady, prices),
    prices,
  };
}
