// What exists in the bucket for mizual-fetch-logs: hosts and dates by delimiter listing
// (`logs/<env>/` then `<host>/`), and the archives of one day.
import { mapLimit } from '../core/concurrency.js';
import { MizualError } from '../core/errors.js';
import { formatNanoTime } from '../core/time.js';
import type { RemoteArchive } from './download.js';
import { datesForRange, selectForRange, type TimeRange } from './range.js';
import { datePrefix, hostPrefix, isValidDate, parseArchiveKey, type LogEnv } from '../archive/contract.js';
import { type Store } from '../store/client.js';

export interface DateHosts {
  date: string;
  hosts: string[];
}

const LIST_CONCURRENCY = 4;

/** Hosts that have anything under `logs/<env>/`, sorted. */
export async function listHosts(store: Store, env: LogEnv): Promise<string[]> {
  const prefixes = await store.listCommonPrefixes(`logs/${env}/`);
  return prefixes
    .map((p) => p.slice(`logs/${env}/`.length, -1))
    .filter((h) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(h))
    .sort();
}

/** The `YYYY-MM-DD` folders under one host, sorted. */
export async function listHostDates(store: Store, env: LogEnv, host: string): Promise<string[]> {
  const base = hostPrefix(env, host);
  const prefixes = await store.listCommonPrefixes(base);
  return prefixes
    .map((p) => p.slice(base.length, -1))
    .filter(isValidDate)
    .sort();
}

/** Dates with archives and the hosts having each (one host when `host` is given), oldest first. */
export async function listAvailability(store: Store, env: LogEnv, host?: string): Promise<DateHosts[]> {
  const hosts = host !== undefined ? [host] : await listHosts(store, env);
  const perHost = await mapLimit(hosts, LIST_CONCURRENCY, (h) => listHostDates(store, env, h));
  const byDate = new Map<string, string[]>();
  hosts.forEach((h, i) => {
    for (const date of perHost[i] ?? []) byDate.set(date, [...(byDate.get(date) ?? []), h]);
  });
  return [...byDate.keys()].sort().map((date) => ({ date, hosts: byDate.get(date) ?? [] }));
}

/** The archives of one host under one date folder, sorted by window end. */
async function listHostDay(store: Store, env: LogEnv, host: string, date: string): Promise<RemoteArchive[]> {
  const archives: RemoteArchive[] = [];
  for (const info of await store.listKeys(datePrefix(env, host, date))) {
    const parsed = parseArchiveKey(info.key);
    // Anything else under the prefix (a stray upload, a temp object) is not ours to fetch.
    if (!parsed || parsed.env !== env || parsed.date !== date) continue;
    archives.push({ ...parsed, key: info.key, size: info.size, etag: info.etag, lastModified: info.lastModified });
  }
  return archives.sort((a, b) => a.end.getTime() - b.end.getTime());
}

/** The one host asked for, or every host with archives in `env`. */
async function hostsOf(store: Store, env: LogEnv, host: string | undefined): Promise<string[]> {
  return host !== undefined ? [host] : listHosts(store, env);
}

/** Every archive of one day (of one host, or of every host), sorted by host then window end. */
export async function listDayArchives(
  store: Store,
  env: LogEnv,
  date: string,
  host?: string,
): Promise<RemoteArchive[]> {
  return (
    await mapLimit(await hostsOf(store, env, host), LIST_CONCURRENCY, (h) => listHostDay(store, env, h, date))
  ).flat();
}

/**
 * The archives (of one host, or of every host) whose windows can hold lines of `range`, sorted by host
 * then window end: only the date folders the range touches, plus the first one after it, are listed.
 */
export async function listRangeArchives(
  store: Store,
  env: LogEnv,
  range: TimeRange,
  host?: string,
): Promise<RemoteArchive[]> {
  const perHost = await mapLimit(await hostsOf(store, env, host), LIST_CONCURRENCY, async (h) => {
    const dates = datesForRange(await listHostDates(store, env, h), range);
    const days = await mapLimit(dates, LIST_CONCURRENCY, (d) => listHostDay(store, env, h, d));
    return selectForRange(days.flat(), range);
  });
  return perHost.flat();
}

/** Up to `count` of `dates` nearest to `date` (for "what exists nearby" messages), in calendar order. */
export function nearestDates(dates: string[], date: string, count = 7): string[] {
  const day = (d: string): number => Date.parse(`${d}T00:00:00Z`) / 86_400_000;
  const target = day(date);
  return [...dates]
    .sort((a, b) => Math.abs(day(a) - target) - Math.abs(day(b) - target) || (a < b ? -1 : 1))
    .slice(0, count)
    .sort();
}

/**
 * The archives of `--date` or of `--since`/`--until`, and how to name that selection; none at all is an
 * error listing the nearest dates that have archives.
 */
export async function selectArchives(
  store: Store,
  bucket: string,
  o: { env: LogEnv; host?: string; date?: string; range?: TimeRange },
): Promise<{ archives: RemoteArchive[]; where: { date?: string; since?: string; until?: string } }> {
  const archives = o.range
    ? await listRangeArchives(store, o.env, o.range, o.host)
    : await listDayArchives(store, o.env, o.date as string, o.host);
  const where = o.range
    ? { since: formatNanoTime(o.range.since), until: formatNanoTime(o.range.until) }
    : { date: o.date };
  if (archives.length > 0) return { archives, where };
  const dates = (await listAvailability(store, o.env, o.host)).map((d) => d.date);
  const day = o.date ?? where.since?.slice(0, 10) ?? '';
  const nearby = dates.length ? `dates with archives: ${nearestDates(dates, day).join(', ')}` : 'none at all';
  const when = o.range ? `between ${where.since} and ${where.until}` : `on ${o.date}`;
  throw new MizualError(
    `no archives for ${o.host ? `${o.env}/${o.host}` : o.env} ${when} in bucket ${bucket} (${nearby})`,
  );
}
