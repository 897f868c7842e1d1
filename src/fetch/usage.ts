// `mizual-fetch-logs --usage`: what the bucket holds per env and host, and what it costs. B2 bills
// every stored version, and a plain delete only hides a file, so this lists versions, not keys.
import { mapLimit } from '../core/concurrency.js';
import { hostPrefix, isValidDate, type LogEnv } from '../archive/contract.js';
import type { Store } from '../store/client.js';
import { listHosts } from './list.js';

/** B2's list price, USD per TB (10^12 bytes) and month. */
export const DEFAULT_PRICE_PER_TB = 6;
const LIST_CONCURRENCY = 4;

export interface UsageRow {
  env: LogEnv;
  host: string;
  /** Keys whose current version is a file (what `--list` shows). */
  objects: number;
  currentBytes: number;
  /** Every stored file version, the current ones included (delete markers hold no bytes and are not counted). */
  versions: number;
  allBytes: number;
  /** Versions a listing does not show: older versions, and every version of a deleted (hidden) key. */
  hiddenVersions: number;
  hiddenBytes: number;
  /** UTC dates of the key folders holding stored bytes, or null when there are none. */
  oldestDate: string | null;
  newestDate: string | null;
  /** allBytes at pricePerTb. */
  monthlyCost: number;
}

export interface UsageReport {
  pricePerTb: number;
  currency: 'USD';
  rows: UsageRow[];
  total: Omit<UsageRow, 'env' | 'host'>;
}

/** The date folder of a key under `logs/<env>/<host>/`, else the day it was stored. */
function dateOf(key: string, prefix: string, lastModified: Date): string {
  const folder = key.slice(prefix.length).split('/')[0] ?? '';
  return isValidDate(folder) ? folder : lastModified.toISOString().slice(0, 10);
}

/** Count one host's versions under its prefix. */
export async function hostUsage(store: Store, env: LogEnv, host: string, pricePerTb: number): Promise<UsageRow> {
  const prefix = hostPrefix(env, host);
  const row: UsageRow = {
    env,
    host,
    objects: 0,
    currentBytes: 0,
    versions: 0,
    allBytes: 0,
    hiddenVersions: 0,
    hiddenBytes: 0,
    oldestDate: null,
    newestDate: null,
    monthlyCost: 0,
  };
  for (const v of await store.listVersions(prefix)) {
    if (v.isDeleteMarker) continue;
    row.versions++;
    row.allBytes += v.size;
    if (v.isLatest) {
      row.objects++;
      row.currentBytes += v.size;
    } else {
      row.hiddenVersions++;
      row.hiddenBytes += v.size;
    }
    const date = dateOf(v.key, prefix, v.lastModified);
    if (row.oldestDate === null || date < row.oldestDate) row.oldestDate = date;
    if (row.newestDate === null || date > row.newestDate) row.newestDate = date;
  }
  row.monthlyCost = costOf(row.allBytes, pricePerTb);
  return row;
}

const costOf = (bytes: number, pricePerTb: number): number => (bytes / 1e12) * pricePerTb;

/** Usage of every host (or one) of each env, sorted by env then host, with a total. */
export async function measureUsage(
  store: Store,
  envs: readonly LogEnv[],
  options: { host?: string; pricePerTb: number },
): Promise<UsageReport> {
  const targets: { env: LogEnv; host: string }[] = [];
  for (const env of envs) {
    const hosts = options.host !== undefined ? [options.host] : await listHosts(store, env);
    for (const host of hosts) targets.push({ env, host });
  }
  const rows = (
    await mapLimit(targets, LIST_CONCURRENCY, (t) => hostUsage(store, t.env, t.host, options.pricePerTb))
  ).filter((r) => r.versions > 0 || options.host !== undefined);
  const sum = (pick: (r: UsageRow) => number): number => rows.reduce((n, r) => n + pick(r), 0);
  const dates = rows.flatMap((r) => (r.oldestDate && r.newestDate ? [r.oldestDate, r.newestDate] : [])).sort();
  const allBytes = sum((r) => r.allBytes);
  return {
    pricePerTb: options.pricePerTb,
    currency: 'USD',
    rows,
    total: {
      objects: sum((r) => r.objects),
      currentBytes: sum((r) => r.currentBytes),
      versions: sum((r) => r.versions),
      allBytes,
      hiddenVersions: sum((r) => r.hiddenVersions),
      hiddenBytes: sum((r) => r.hiddenBytes),
      oldestDate: dates[0] ?? null,
      newestDate: dates[dates.length - 1] ?? null,
      monthlyCost: costOf(allBytes, options.pricePerTb),
    },
  };
}
