/**
 * The files of a container's json-file log: the live `<id>-json.log` and the generations Docker's
 * rotation (`max-file`) leaves beside it, `.1` … `.N`, gzipped as `.N.gz` with `compress=true`.
 * Docker's own half-written `*.tmp` files (compression in progress) are left out.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** One generation of a json-file log: the live file, a rotated `.N` or a compressed `.N.gz`. */
export interface LogGeneration {
  path: string;
  /** 0 for the live file, N for `.N` / `.N.gz`. */
  index: number;
  compressed: boolean;
  dev: string;
  ino: string;
  size: number;
}

/**
 * The generations of the json-file log at `logPath`, newest first (live, .1, .2, …), as found now.
 * Docker's `*.tmp` decompression files are not generations; a `.N` and `.N.gz` present at once (the
 * compressor has not unlinked the original yet) yield the uncompressed one.
 */
export async function listGenerations(logPath: string): Promise<LogGeneration[]> {
  const dir = path.dirname(logPath);
  const base = path.basename(logPath);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const found = new Map<number, LogGeneration>();
  for (const name of names) {
    const m = name === base ? ['', ''] : new RegExp(`^${escapeRegExp(base)}\\.(\\d+)(\\.gz)?$`).exec(name);
    if (!m) continue;
    const index = m[1] === '' ? 0 : Number(m[1]);
    const compressed = m[2] === '.gz';
    const prior = found.get(index);
    if (prior && !prior.compressed) continue;
    const info = await fsp.stat(path.join(dir, name), { bigint: true }).catch(() => null);
    if (!info || !info.isFile()) continue;
    found.set(index, {
      path: path.join(dir, name),
      index,
      compressed,
      dev: info.dev.toString(),
      ino: info.ino.toString(),
      size: Number(info.size),
    });
  }
  return [...found.values()].sort((a, b) => a.index - b.index);
}

/**
 * Open a listed generation. A `.N` that is gone may have just been compressed to `.N.gz` (Docker
 * unlinks the original when it is done): open that instead. Only a missing file is skipped.
 */
export async function openGeneration(r: { path: string; compressed: boolean }): Promise<FileHandle | null> {
  try {
    return await fsp.open(r.path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (r.compressed || !/\.\d+$/.test(r.path)) return null;
  try {
    const handle = await fsp.open(`${r.path}.gz`, 'r');
    Object.assign(r, { path: `${r.path}.gz`, compressed: true });
    return handle;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether the log options cap the log's size (json-file and local honour `max-size`; local caps by default). */
export function logRotationConfigured(driver: string, options: Readonly<Record<string, string>>): boolean {
  if (driver === 'local') return true;
  if (driver !== 'json-file') return false;
  const max = options['max-size'];
  return max !== undefined && max !== '' && max !== '-1';
}
