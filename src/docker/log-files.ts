/**
 * The files of a container's json-file log: the live `<id>-json.log` and the generations Docker's
 * rotation (`max-file`) leaves beside it, `.1` … `.N`, gzipped as `.N.gz` with `compress=true`.
 * Docker's own half-written `*.tmp` files (compression in progress) are left out.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface LogGeneration {
  path: string;
  /** 0 for the live file, N for `.N` / `.N.gz`. */
  generation: number;
  sizeBytes: number;
  compressed: boolean;
}

/** List the existing generations of a json-file log, live file first; a missing directory gives []. */
export async function listLogGenerations(logPath: string): Promise<LogGeneration[]> {
  const dir = path.dirname(logPath);
  const base = path.basename(logPath);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const found: { name: string; generation: number; compressed: boolean }[] = [];
  for (const name of names) {
    if (name === base) {
      found.push({ name, generation: 0, compressed: false });
      continue;
    }
    if (!name.startsWith(`${base}.`)) continue;
    const match = /^(\d+)(\.gz)?$/.exec(name.slice(base.length + 1));
    if (match) found.push({ name, generation: Number(match[1]), compressed: match[2] !== undefined });
  }
  const sized = await Promise.all(
    found.map(async (f) => {
      try {
        const stat = await fsp.stat(path.join(dir, f.name));
        return stat.isFile() ? { ...f, sizeBytes: stat.size } : null;
      } catch {
        return null; // rotated away between readdir and stat
      }
    }),
  );
  return sized
    .filter((f): f is NonNullable<typeof f> => f !== null)
    .sort((a, b) => a.generation - b.generation)
    .map((f) => ({
      path: path.join(dir, f.name),
      generation: f.generation,
      sizeBytes: f.sizeBytes,
      compressed: f.compressed,
    }));
}

/** Whether the log options cap the log's size (json-file and local honour `max-size`; local caps by default). */
export function logRotationConfigured(driver: string, options: Readonly<Record<string, string>>): boolean {
  if (driver === 'local') return true;
  if (driver !== 'json-file') return false;
  const max = options['max-size'];
  return max !== undefined && max !== '' && max !== '-1';
}
