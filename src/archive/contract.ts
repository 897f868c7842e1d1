/**
 * The contract between mizual-ship-logs (writer) and mizual-fetch-logs (reader), in one place: the
 * object-key layout `logs/<env>/<host>/<YYYY-MM-DD>/logs-YYYYMMDD_HHMMSS.tar.gz` (UTC, the window end
 * truncated to whole seconds), the names of the entries inside an archive, and manifest.json.
 */

import type { AlertCursor, ContainerCheckpoint, PatternTable } from '../core/ship-state.js';

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

const ARCHIVE_NAME = /^logs-(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})\.tar\.gz$/;

/** The window end (UTC time) an archive name encodes, or undefined for other names. */
export function archiveEnd(name: string): Date | undefined {
  const m = ARCHIVE_NAME.exec(name);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as number[];
  const end = new Date(Date.UTC(y as number, (mo as number) - 1, d, h, mi, s));
  return formatStamp(end) === `${m[1]}${m[2]}${m[3]}_${m[4]}${m[5]}${m[6]}` ? end : undefined;
}

/**
 * The entry holding one container's lines: `<short>-YYYYMMDD_HHMMSS.log`. A container whose short name
 * is `alerts` (in any case, for a case-insensitive file system that extracts it) would take the alert
 * log's name: it becomes `<short>@container-…`, a name no short name can produce ('@' is not allowed in
 * one), so entry names never collide.
 */
export function containerEntryName(short: string, stamp: string): string {
  return short.toLowerCase() === 'alerts' ? `${short}${CONTAINER_MARK}-${stamp}.log` : `${short}-${stamp}.log`;
}

const CONTAINER_MARK = '@container';

/** The entry holding the alert log's lines: `alerts-YYYYMMDD_HHMMSS.log`. */
export function alertsEntryName(stamp: string): string {
  return `alerts-${stamp}.log`;
}

const LOG_ENTRY = /^(?:\.\/)?([A-Za-z0-9][A-Za-z0-9_.-]*)(?:@container)?-\d{8}_\d{6}\.log$/;

/** The short name (`backend`, `alerts`) a log entry's name starts with, or undefined for other entries. */
export function logEntryLabel(entryName: string): string | undefined {
  return LOG_ENTRY.exec(entryName)?.[1];
}

// ---------------------------------------------------------------------------------------------
// manifest.json
// ---------------------------------------------------------------------------------------------

export const MANIFEST_NAME = 'manifest.json';
/** The manifest's `format`; a reader refuses a higher one rather than misread it. */
export const MANIFEST_FORMAT = 1;
/** A manifest larger than this is not one of ours. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export interface ManifestFile {
  name: string;
  kind: 'container' | 'alerts';
  short?: string;
  container?: string;
  containerId?: string;
  /** Where a container's lines came from: its json-file log read directly, or the Engine API (or both). */
  source?: 'file' | 'api' | 'file+api';
  /** Why the Engine API was used instead of the log files. */
  sourceReason?: string;
  since?: string;
  until?: string;
  lines: number;
  bytes: number;
  sha256: string;
  /**
   * The entry's bytes in the archive, compressed (its header, data and padding members; absent in older
   * manifests): what it costs in the bucket.
   */
  compressedBytes?: number;
  /** Lines of containers that were gone (replaced, removed) and were finished from the hold, first in the file. */
  completedFromHold?: { containerId: string; lines: number }[];
}

export interface ManifestMissing {
  short: string;
  container: string;
  reason: string;
}

export interface ManifestGap {
  short: string;
  container: string;
  oldContainerId: string;
  newContainerId: string;
  lastShippedAt: string;
  reason: string;
  /**
   * What happened (absent in older manifests): the old container was removed before its log was held
   * (`removed-unheld`), a held log file was deleted (`held-file-deleted`), a generation was rotated past
   * max-file before it was read (`rotated-away`), a log file could not be read (`unreadable`).
   */
  kind?: GapKind;
}

export type GapKind = 'removed-unheld' | 'held-file-deleted' | 'rotated-away' | 'unreadable';

/**
 * Where shipping continues after this archive (absent in older manifests): each container's checkpoint
 * (its last line's time, and the exact file position when read from the log files), the alert log's
 * cursor and the held containers already shipped. With no local state, a run continues from this host's
 * newest manifest, so a reinstall neither ships twice nor leaves a gap.
 */
export interface ManifestResume {
  containers: Record<string, ContainerCheckpoint>;
  alertLog: AlertCursor | null;
  heldShipped: string[];
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  /** `mizual-ship-logs <version>`. */
  tool: string;
  host: string;
  env: LogEnv;
  window: { start: string; end: string };
  createdAt: string;
  files: ManifestFile[];
  missing: ManifestMissing[];
  gaps: ManifestGap[];
  resume?: ManifestResume;
}

/** The bytes of manifest.json as the shipper writes them. */
export function serializeManifest(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

export type ManifestRead =
  | { status: 'ours'; manifest: Manifest }
  /** Valid JSON but no `format`: someone else's manifest.json, treated like none. */
  | { status: 'foreign' }
  | { status: 'invalid'; reason: string };

/** Parse a manifest.json: ours (format 1 with a files list), someone else's, or broken. */
export function parseManifest(text: string): ManifestRead {
  let data: unknown;
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    return { status: 'invalid', reason: 'manifest.json is not valid JSON' };
  }
  if (typeof data !== 'object' || data === null || !('format' in data)) return { status: 'foreign' };
  const m = data as Partial<Manifest> & { format: unknown };
  if (m.format !== MANIFEST_FORMAT) {
    return {
      status: 'invalid',
      reason: `manifest.json has format ${String(m.format)}; this version reads ${MANIFEST_FORMAT}`,
    };
  }
  if (
    !Array.isArray(m.files) ||
    m.files.some((f) => typeof f !== 'object' || f === null || typeof f.name !== 'string')
  ) {
    return { status: 'invalid', reason: 'manifest.json is not a valid manifest (no files list)' };
  }
  return { status: 'ours', manifest: { missing: [], gaps: [], ...m } as Manifest };
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

/** The UTC date (YYYY-MM-DD) before which archives are past retention: never today's. */
export function retentionCutoff(nowMs: number, retentionDays: number): string {
  return formatDate(new Date(nowMs - Math.max(1, retentionDays) * 86_400_000));
}

/** True for a real calendar date written `YYYY-MM-DD`. */
export function isValidDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

// ---------------------------------------------------------------------------------------------
// What each archive costs per entry, readable without downloading it
// ---------------------------------------------------------------------------------------------

/**
 * The S3 user metadata (`x-amz-meta-mizual-entries`) each archive is uploaded with: the compressed
 * bytes of each entry, `backend=1234,celery=567,alerts=89` (container short names, `alerts` for the
 * alert log, `<short>@container` for a container named alerts). A HEAD answers it; archives without it
 * (the old scripts') are the container `unknown`.
 */
export const ENTRY_BYTES_METADATA = 'mizual-entries';
/** AWS allows 2 KB of user metadata; B2's S3 API about as much. What does not fit is left out (unknown). */
const MAX_ENTRY_BYTES_TEXT = 1800;

/** The metadata value for per-entry compressed bytes, largest first, cut to what fits. */
export function formatEntryBytes(bytes: Record<string, number>): string {
  let text = '';
  for (const [label, n] of Object.entries(bytes).sort((a, b) => b[1] - a[1])) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]*$/.test(label) || !Number.isSafeInteger(n) || n < 0) continue;
    const item = `${text === '' ? '' : ','}${label}=${n}`;
    if (text.length + item.length > MAX_ENTRY_BYTES_TEXT) break;
    text += item;
  }
  return text;
}

/** Parse the metadata value; undefined when it is not ours. */
export function parseEntryBytes(text: string | undefined): Record<string, number> | undefined {
  if (text === undefined || text === '') return undefined;
  const out: Record<string, number> = {};
  for (const item of text.split(',')) {
    const m = /^([A-Za-z0-9][A-Za-z0-9_.@-]*)=(\d{1,15})$/.exec(item.trim());
    if (!m) return undefined;
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/** The label an entry's bytes are recorded under: the container's short name, or `alerts`. */
export function entryBytesLabel(file: Pick<ManifestFile, 'kind' | 'short'>): string {
  if (file.kind === 'alerts' || file.short === undefined) return 'alerts';
  return file.short.toLowerCase() === 'alerts' ? `${file.short}${CONTAINER_MARK}` : file.short;
}

/**
 * The one small object per host the shipper keeps beside the archives (outside `logs/`, so listings,
 * retention and downloads of archives never meet it): the top line shapes per container.
 */
export function patternsKey(env: LogEnv, host: string): string {
  if (!HOST_PATTERN.test(host)) throw new RangeError(`invalid host name '${host}'`);
  return `usage/${env}/${host}/patterns.json`;
}

/** The patterns object: each container's top line shapes, as the shipper keeps them. */
export interface PatternsObject {
  format: 1;
  host: string;
  env: LogEnv;
  updatedAt: string;
  containers: Record<string, PatternTable>;
}
