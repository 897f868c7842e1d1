/**
 * What every host collector shares: where procfs is (injectable, so unit tests read a fixture tree),
 * reading one of its files with an error that names it, and the rounding the figures use.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeError, MizualError } from '../core/errors.js';

/** The subset of `fs.StatFs` (non-bigint) that disk figures need. */
export interface StatfsLike {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

/** Where to read host figures from; both are injectable so unit tests run on a fixture procfs. */
export interface HostOptions {
  /** procfs root, default `/proc`. */
  procRoot?: string;
  /** statfs implementation, default a `stat -f` child bounded by the timeout (see defaultStatfs). */
  statfs?: (path: string, timeoutMs?: number) => Promise<StatfsLike>;
  /** How long one filesystem may take to answer statfs (default 2 s). */
  statfsTimeoutMs?: number;
}

const DEFAULT_PROC_ROOT = '/proc';

/** A path under the procfs root. */
export function procPath(opts: HostOptions | undefined, ...parts: string[]): string {
  return join(opts?.procRoot ?? DEFAULT_PROC_ROOT, ...parts);
}

/** The text of a procfs file; a failure names the file. */
export async function readProcFile(path: string): Promise<string> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (err) {
    throw new MizualError(`cannot read ${path}: ${describeError(err)}`, undefined, { cause: err });
  }
}

/** Rounded to one decimal. */
export function roundTo1(n: number): number {
  return Math.round(n * 10) / 10;
}

export function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

export function isFiniteNumber(n: number | undefined): n is number {
  return n !== undefined && Number.isFinite(n);
}

/** Read one procfs file and parse it; the file's path names it in any error. */
export async function parseProcFile<T>(
  opts: HostOptions | undefined,
  parts: string[],
  parse: (text: string, source: string) => T,
): Promise<T> {
  const path = procPath(opts, ...parts);
  return parse(await readProcFile(path), path);
}
