/**
 * What the shipper records of cost, so nothing has to download an archive to tell it: each archive's
 * compressed bytes per entry (kept in the state until the archive is uploaded with them as metadata),
 * the compressed bytes per UTC day and container (the `cost` alert and `--prometheus` read them), and
 * the top line shapes per container (stored in the bucket now and then for `--usage --patterns`).
 */
import {
  ENTRY_BYTES_METADATA,
  formatEntryBytes,
  patternsKey,
  type LogEnv,
  type PatternsObject,
} from '../archive/contract.js';
import type { ShipUsage } from '../core/ship-state.js';
import type { Store } from '../store/client.js';
import { mergePatterns, type ShapeCounter } from './shapes.js';

/** The patterns object is rewritten at most this often: each write of a versioned bucket keeps a version. */
export const PATTERNS_UPLOAD_EVERY_MS = 6 * 3_600_000;

const DAY_MS = 86_400_000;

export function emptyUsage(nowMs: number): ShipUsage {
  return { since: new Date(nowMs).toISOString(), days: {}, archives: {}, patterns: {} };
}

/** The record after one archive: its entries' bytes, its day, the shapes counted; days past retention dropped. */
export function recordArchive(
  previous: ShipUsage | undefined,
  archive: { name: string; date: string; entryBytes: Record<string, number> },
  counters: Map<string, ShapeCounter>,
  nowMs: number,
  retentionDays: number,
): ShipUsage {
  const usage = previous ?? emptyUsage(nowMs);
  const cutoff = new Date(nowMs - (Math.max(1, retentionDays) + 1) * DAY_MS).toISOString().slice(0, 10);
  const days: ShipUsage['days'] = {};
  for (const [date, labels] of Object.entries(usage.days)) if (date >= cutoff) days[date] = { ...labels };
  const day = (days[archive.date] ??= {});
  for (const [label, n] of Object.entries(archive.entryBytes)) day[label] = (day[label] ?? 0) + n;
  const patterns = { ...usage.patterns };
  for (const [short, counter] of counters) {
    if (counter.totalLines > 0) patterns[short] = mergePatterns(patterns[short], counter, nowMs);
  }
  return {
    ...usage,
    days,
    archives: { ...usage.archives, [archive.name]: archive.entryBytes },
    patterns,
  };
}

/** The metadata an archive is uploaded with (none for an archive the record does not know). */
export function archiveMetadata(usage: ShipUsage | undefined, name: string): Record<string, string> | undefined {
  const bytes = usage?.archives[name];
  if (!bytes) return undefined;
  const text = formatEntryBytes(bytes);
  return text === '' ? undefined : { [ENTRY_BYTES_METADATA]: text };
}

/** The record with this run's own CPU seconds and peak RSS added to today's (a week of days kept). */
export function recordSelf(usage: ShipUsage | undefined, nowMs: number): ShipUsage | undefined {
  if (!usage) return usage;
  const cpu = process.cpuUsage();
  const rssBytes = process.resourceUsage().maxRSS * 1024;
  const today = new Date(nowMs).toISOString().slice(0, 10);
  const cutoff = new Date(nowMs - 7 * DAY_MS).toISOString().slice(0, 10);
  const self: NonNullable<ShipUsage['self']> = {};
  for (const [day, v] of Object.entries(usage.self ?? {})) if (day >= cutoff) self[day] = v;
  const was = self[today] ?? { cpuSeconds: 0, runs: 0, peakRssBytes: 0 };
  self[today] = {
    cpuSeconds: Math.round((was.cpuSeconds + (cpu.user + cpu.system) / 1e6) * 1000) / 1000,
    runs: was.runs + 1,
    peakRssBytes: Math.max(was.peakRssBytes, rssBytes),
  };
  return { ...usage, self };
}

/** The record once `name` is uploaded (its entries' bytes are in the bucket now), or renamed to `to`. */
export function settleArchive(usage: ShipUsage | undefined, name: string, to?: string): ShipUsage | undefined {
  if (!usage || !(name in usage.archives)) return usage;
  const { [name]: bytes, ...rest } = usage.archives;
  return { ...usage, archives: to !== undefined && bytes ? { ...rest, [to]: bytes } : rest };
}

/**
 * Store the patterns in the bucket when they were never stored or not for PATTERNS_UPLOAD_EVERY_MS;
 * returns the record with the time, or unchanged. A failure is left for a later run (it is a report,
 * not logs).
 */
export async function uploadPatterns(
  store: Store,
  usage: ShipUsage | undefined,
  where: { env: LogEnv; host: string },
  nowMs: number,
): Promise<ShipUsage | undefined> {
  if (!usage || Object.keys(usage.patterns).length === 0) return usage;
  const last = usage.patternsUploadedAt ? Date.parse(usage.patternsUploadedAt) : NaN;
  if (!Number.isNaN(last) && nowMs - last < PATTERNS_UPLOAD_EVERY_MS && nowMs >= last) return usage;
  const body: PatternsObject = {
    format: 1,
    host: where.host,
    env: where.env,
    updatedAt: new Date(nowMs).toISOString(),
    containers: usage.patterns,
  };
  try {
    await store.putBytes(patternsKey(where.env, where.host), Buffer.from(JSON.stringify(body)));
  } catch {
    return usage;
  }
  return { ...usage, patternsUploadedAt: body.updatedAt };
}
