/**
 * A full disk said in an operator's words: what was being written, where, how much it needed and how
 * much the filesystem has, instead of Node's bare `ENOSPC: no space left on device, write`.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { MizualError } from './errors.js';
import { formatBytes } from './units.js';

/** Bytes an unprivileged writer can still use on the filesystem holding `dir`, or undefined if unknown. */
export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/** The one line for a write that ran out of space (ENOSPC, or EDQUOT for a quota); undefined for other errors. */
export async function noSpaceError(
  err: unknown,
  what: string,
  file: string,
  neededBytes: number,
): Promise<MizualError | undefined> {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined;
  const dir = path.dirname(file);
  const free = await freeBytes(dir);
  const quota = code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left';
  const has = free === undefined ? '' : `, ${formatBytes(free)} free`;
  return new MizualError(
    `${quota} writing ${what} to ${dir}: it needs ${formatBytes(neededBytes)}${has}; free some space or choose another --out`,
    1,
    { cause: err },
  );
}
