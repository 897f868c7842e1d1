// `mizual-fetch-logs --usage`: what the bucket holds and costs per env, host and container, and where
// it is heading. B2 bills every stored version (a plain delete only hides a file) and the parts of
// unfinished multipart uploads, so this lists versions and uploads, not keys. Per-container bytes come
// from the metadata each archive was uploaded with (one HEAD per archive, no download); archives
// without it (the old scripts') are the container `unknown`.
import { mapLimit } from '../core/concurrency.js';
import { monthlyCost, perDay, steadyState, DEFAULT_PRICE_PER_TB, type Prices } from '../core/cost.js';
import {
  ENTRY_BYTES_METADATA,
  hostPrefix,
  isValidDate,
  parseArchiveKey,
  parseEntryBytes,
  patternsKey,
  type LogEnv,
  type PatternsObject,
} from '../archive/contract.js';
import type { ObjectVersion, Store } from '../store/client.js';
import { listHosts } from './list.js';

export { DEFAULT_PRICE_PER_TB };
const LIST_CONCURRENCY = 4;
const HEAD_CONCURRENCY = 8;
const DAY_MS = 86_400_000;
/** The container of bytes no record tells apart: the old scripts' archives. */
export const UNKNOWN_CONTAINER = 'unknown';

export interface ContainerUsage {
  name: string;
  /** Compressed bytes stored (every version). */
  bytes: number;
  /** Share (0-1) of the host's stored bytes. */
  share: number;
  perDay7: number;
}

export interface HostUsage {
  env: LogEnv;
  host: string;
  /** Bytes of every stored version (what is billed), hidden ones included. */
  bytes: number;
  /** Bytes added per day over the last 7 and 30 days. */
  perDay7: number;
  perDay30: number;
  /** The bytes held at MIZUAL_RETENTION_DAYS days of the 7-day rate. */
  steadyStateBytes: number;
  /** The steady state's monthly cost (this host's part of the bucket's, the free bytes shared by size). */
  monthlyCost: number;
  /** What this month has cost so far (from what is stored now: what was deleted this month is not seen). */
  monthSoFar: number;
  hiddenVersionBytes: number;
  unfinishedUploads: { count: number; bytes: number };
  containers: ContainerUsage[];
  /** Keys whose current version is a file (what `--list` shows), and their bytes. */
  objects: number;
  currentBytes: number;
  /** Every stored file version, and those a listing does not show (older versions, deleted keys). */
  versions: number;
  hiddenVersions: number;
  /** UTC dates of the key folders holding stored bytes, or null when there are none. */
  oldestDate: string | null;
  newestDate: string | null;
}

export interface PatternRow {
  env: LogEnv;
  host: string;
  container: string;
  shape: string;
  /** Bytes of lines of this shape (as shipped, before compression) since the record began. */
  bytes: number;
  /** Share (0-1) of the container's bytes. */
  share: number;
  lines: number;
  perDay: number;
}

export interface UsageReport {
  prices: Prices;
  currency: 'USD';
  retentionDays: number;
  time: string;
  hosts: HostUsage[];
  total: { bytes: number; steadyStateBytes: number; monthlyCost: number; monthSoFar: number };
  /** With --patterns: each container's top line shapes. */
  patterns?: PatternRow[];
  /** Hosts whose patterns could not be read (none stored yet). */
  patternsMissing?: string[];
}

export interface UsageOptions {
  host?: string;
  prices: Prices;
  retentionDays: number;
  nowMs: number;
  patterns?: boolean;
}

/** The date folder of a key under `logs/<env>/<host>/`, else the day it was stored. */
function dateOf(key: string, prefix: string, lastModified: Date): string {
  const folder = key.slice(prefix.length).split('/')[0] ?? '';
  return isValidDate(folder) ? folder : lastModified.toISOString().slice(0, 10);
}

/** One stored version, placed in time (the window end its key names, else when it was stored) and split. */
interface Piece {
  timeMs: number;
  storedMs: number;
  bytes: number;
  /** Bytes per container, summing to `bytes`. */
  split: Record<string, number>;
}

/** `size` split in proportion to the recorded entry bytes: the manifest and tar trailer go with them. */
function splitBytes(size: number, entries: Record<string, number> | undefined): Record<string, number> {
  const total = entries ? Object.values(entries).reduce((a, b) => a + b, 0) : 0;
  if (!entries || total <= 0) return { [UNKNOWN_CONTAINER]: size };
  const out: Record<string, number> = {};
  for (const [label, n] of Object.entries(entries)) out[label] = (size * n) / total;
  return out;
}

interface HostMeasure {
  row: HostUsage;
  pieces: Piece[];
  uploads: { bytes: number; storedMs: number }[];
}

/** List one host's versions and unfinished uploads, and HEAD its current archives for their entry bytes. */
async function measureHost(store: Store, env: LogEnv, host: string, o: UsageOptions): Promise<HostMeasure> {
  const prefix = hostPrefix(env, host);
  const versions = (await store.listVersions(prefix)).filter((v) => !v.isDeleteMarker);
  const current = versions.filter((v) => v.isLatest && parseArchiveKey(v.key) !== undefined);
  const heads = await mapLimit(current, HEAD_CONCURRENCY, async (v) => {
    const head = await store.headObject(v.key);
    return [v.key, parseEntryBytes(head?.metadata?.[ENTRY_BYTES_METADATA])] as const;
  });
  const entriesOf = new Map(heads);
  const openUploads = await store.listOpenUploads(prefix);
  const uploads = await mapLimit(openUploads, HEAD_CONCURRENCY, async (u) => ({
    bytes: await store.uploadedPartBytes(u),
    storedMs: u.initiated.getTime(),
  }));
  const row: HostUsage = {
    env,
    host,
    bytes: 0,
    perDay7: 0,
    perDay30: 0,
    steadyStateBytes: 0,
    monthlyCost: 0,
    monthSoFar: 0,
    hiddenVersionBytes: 0,
    unfinishedUploads: { count: uploads.length, bytes: uploads.reduce((n, u) => n + u.bytes, 0) },
    containers: [],
    objects: 0,
    currentBytes: 0,
    versions: 0,
    hiddenVersions: 0,
    oldestDate: null,
    newestDate: null,
  };
  const pieces = versions.map((v: ObjectVersion): Piece => {
    row.versions++;
    row.bytes += v.size;
    if (v.isLatest) {
      row.objects++;
      row.currentBytes += v.size;
    } else {
      row.hiddenVersions++;
      row.hiddenVersionBytes += v.size;
    }
    const date = dateOf(v.key, prefix, v.lastModified);
    if (row.oldestDate === null || date < row.oldestDate) row.oldestDate = date;
    if (row.newestDate === null || date > row.newestDate) row.newestDate = date;
    const end = parseArchiveKey(v.key)?.end.getTime();
    return {
      timeMs: end ?? v.lastModified.getTime(),
      storedMs: v.lastModified.getTime(),
      bytes: v.size,
      // A hidden version of a key takes the split of its current version when there is one.
      split: splitBytes(v.size, entriesOf.get(v.key) ?? undefined),
    };
  });
  const first = pieces.reduce((m, p) => Math.min(m, p.timeMs), o.nowMs);
  row.perDay7 = perDay(
    pieces.map((p) => ({ timeMs: p.timeMs, bytes: p.bytes })),
    o.nowMs,
    7,
    first,
  );
  row.perDay30 = perDay(
    pieces.map((p) => ({ timeMs: p.timeMs, bytes: p.bytes })),
    o.nowMs,
    30,
    first,
  );
  row.steadyStateBytes = steadyState(row.perDay7, o.retentionDays);
  const labels = new Set(pieces.flatMap((p) => Object.keys(p.split)));
  row.containers = [...labels]
    .map((name) => {
      const items = pieces.map((p) => ({ timeMs: p.timeMs, bytes: p.split[name] ?? 0 }));
      const bytes = items.reduce((n, i) => n + i.bytes, 0);
      return {
        name,
        bytes: Math.round(bytes),
        share: row.bytes > 0 ? bytes / row.bytes : 0,
        perDay7: perDay(items, o.nowMs, 7, first),
      };
    })
    .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
  return { row, pieces, uploads };
}

/** Byte-milliseconds stored since the start of this UTC month. */
function byteMsThisMonth(items: { bytes: number; storedMs: number }[], monthStart: number, nowMs: number): number {
  let sum = 0;
  for (const item of items) sum += item.bytes * Math.max(0, nowMs - Math.max(monthStart, item.storedMs));
  return sum;
}

/**
 * The report: every host (or one) of each env, sorted by env then host. Costs are the bucket's (the
 * free bytes are per account), shared out to hosts by their part of it.
 */
export async function measureUsage(store: Store, envs: readonly LogEnv[], o: UsageOptions): Promise<UsageReport> {
  const targets: { env: LogEnv; host: string }[] = [];
  for (const env of envs) {
    const hosts = o.host !== undefined ? [o.host] : await listHosts(store, env);
    for (const host of hosts) targets.push({ env, host });
  }
  const measured = (await mapLimit(targets, LIST_CONCURRENCY, (t) => measureHost(store, t.env, t.host, o))).filter(
    (m) => m.row.versions > 0 || m.row.unfinishedUploads.count > 0 || o.host !== undefined,
  );
  const now = new Date(o.nowMs);
  const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const monthMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) - monthStart;
  const steady = measured.reduce((n, m) => n + m.row.steadyStateBytes, 0);
  const steadyCost = monthlyCost(steady, o.prices);
  const byteMs = measured.map((m) => byteMsThisMonth([...m.pieces, ...m.uploads], monthStart, o.nowMs));
  const allByteMs = byteMs.reduce((a, b) => a + b, 0);
  const freeByteMs = o.prices.freeGb * 1e9 * (o.nowMs - monthStart);
  const soFar = ((Math.max(0, allByteMs - freeByteMs) / monthMs) * o.prices.pricePerTb) / 1e12;
  measured.forEach((m, i) => {
    m.row.monthlyCost = steady > 0 ? (steadyCost * m.row.steadyStateBytes) / steady : 0;
    m.row.monthSoFar = allByteMs > 0 ? (soFar * (byteMs[i] ?? 0)) / allByteMs : 0;
  });
  const hosts = measured.map((m) => m.row);
  const report: UsageReport = {
    prices: o.prices,
    currency: 'USD',
    retentionDays: o.retentionDays,
    time: now.toISOString(),
    hosts,
    total: {
      bytes: hosts.reduce((n, h) => n + h.bytes, 0),
      steadyStateBytes: steady,
      monthlyCost: steadyCost,
      monthSoFar: soFar,
    },
  };
  if (o.patterns) Object.assign(report, await readPatterns(store, hosts));
  return report;
}

/** Each host's stored patterns object, as rows; hosts with none are named. */
async function readPatterns(
  store: Store,
  hosts: HostUsage[],
): Promise<{ patterns: PatternRow[]; patternsMissing: string[] }> {
  const patterns: PatternRow[] = [];
  const patternsMissing: string[] = [];
  const read = await mapLimit(hosts, LIST_CONCURRENCY, async (h) => {
    const key = patternsKey(h.env, h.host);
    if ((await store.headObject(key)) === null) return null;
    const chunks: Buffer[] = [];
    for await (const chunk of await store.getObjectStream(key)) chunks.push(chunk as Buffer);
    try {
      const data = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<PatternsObject>;
      return data.format === 1 && typeof data.containers === 'object' && data.containers !== null
        ? (data as PatternsObject)
        : null;
    } catch {
      return null;
    }
  });
  hosts.forEach((h, i) => {
    const object = read[i];
    if (!object) {
      patternsMissing.push(`${h.env}/${h.host}`);
      return;
    }
    const updated = Date.parse(object.updatedAt);
    for (const [container, table] of Object.entries(object.containers)) {
      const days = Math.max(1, (updated - Date.parse(table.since)) / DAY_MS || 1);
      for (const s of table.shapes ?? []) {
        patterns.push({
          env: h.env,
          host: h.host,
          container,
          shape: s.shape,
          bytes: s.bytes,
          share: table.bytes > 0 ? s.bytes / table.bytes : 0,
          lines: s.lines,
          perDay: s.bytes / days,
        });
      }
    }
  });
  return { patterns, patternsMissing };
}
