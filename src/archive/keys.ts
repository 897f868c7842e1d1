/**
 * The object-key layout shared by mizual-ship-logs (writer) and mizual-fetch-logs (reader):
 * `logs/<env>/<host>/<YYYY-MM-DD>/logs-YYYYMMDD_HHMMSS.tar.gz`, UTC, the window end truncated to whole seconds.
 */

export type LogEnv = 'prod' | 'dev';

export interface ArchiveKey {
  env: LogEnv;
  host: string;
  /** `YYYY-MM-DD` (UTC). */
  date: string;
  /** `logs-YYYYMMDD_HHMMSS.tar.gz`. */
  name: string;
  /** `YYYYMMDD_HHMMSS`, the stamp every entry inside the archive carries too. */
  stamp: string;
  /** The window end the name encodes (whole seconds). */
  end: Date;
}

const HOST_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const KEY_PATTERN =
  /^logs\/(prod|dev)\/([A-Za-z0-9][A-Za-z0-9._-]*)\/(\d{4})-(\d{2})-(\d{2})\/logs-(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})\.tar\.gz$/;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `YYYYMMDD_HHMMSS` of a time in UTC, truncated to whole seconds. */
export function formatStamp(end: Date): string {
  if (Number.isNaN(end.getTime())) throw new RangeError('invalid date');
  return (
    `${pad(end.getUTCFullYear(), 4)}${pad(end.getUTCMonth() + 1)}${pad(end.getUTCDate())}_` +
    `${pad(end.getUTCHours())}${pad(end.getUTCMinutes())}${pad(end.getUTCSeconds())}`
  );
}

/** `YYYY-MM-DD` of a time in UTC. */
export function formatDate(end: Date): string {
  if (Number.isNaN(end.getTime())) throw new RangeError('invalid date');
  return `${pad(end.getUTCFullYear(), 4)}-${pad(end.getUTCMonth() + 1)}-${pad(end.getUTCDate())}`;
}

/** The archive's file name for a window ending at `end`: `logs-YYYYMMDD_HHMMSS.tar.gz`. */
export function archiveName(end: Date): string {
  return `logs-${formatStamp(end)}.tar.gz`;
}

/** The prefix holding every archive of one host: `logs/<env>/<host>/`. */
export function hostPrefix(env: LogEnv, host: string): string {
  if (!HOST_PATTERN.test(host)) throw new RangeError(`invalid host name '${host}'`);
  return `logs/${env}/${host}/`;
}

/** The prefix holding one host's archives of one UTC day: `logs/<env>/<host>/<YYYY-MM-DD>/`. */
export function datePrefix(env: LogEnv, host: string, date: string): string {
  if (!isValidDate(date)) throw new RangeError(`invalid date '${date}'`);
  return `${hostPrefix(env, host)}${date}/`;
}

/** The object key for a window ending at `end`. */
export function objectKey(env: LogEnv, host: string, end: Date): string {
  return `${datePrefix(env, host, formatDate(end))}${archiveName(end)}`;
}

/** Parse an object key of our layout; `undefined` for anything else (including a name whose date disagrees with its folder). */
export function parseArchiveKey(key: string): ArchiveKey | undefined {
  const m = KEY_PATTERN.exec(key);
  if (!m) return undefined;
  const [, env, host, y, mo, d, ny, nmo, nd, hh, mi, ss] = m as unknown as string[];
  if (y !== ny || mo !== nmo || d !== nd) return undefined;
  const date = `${y}-${mo}-${d}`;
  if (!isValidDate(date)) return undefined;
  const end = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(hh), Number(mi), Number(ss)));
  if (end.getUTCHours() !== Number(hh) || end.getUTCMinutes() !== Number(mi) || end.getUTCSeconds() !== Number(ss)) {
    return undefined;
  }
  const stamp = `${ny}${nmo}${nd}_${hh}${mi}${ss}`;
  return { env: env as LogEnv, host: host!, date, name: `logs-${stamp}.tar.gz`, stamp, end };
}

/** True for a real calendar date written `YYYY-MM-DD`. */
export function isValidDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}
