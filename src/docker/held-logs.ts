/**
 * The hold as a reader sees it: where it is and what it keeps. The hold itself (hard links to the
 * json-file logs of containers not shipped yet) is taken and let go by mizual-ship-logs (ship/hold.ts);
 * mizual-metrics shows its size.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Config } from '../core/config.js';
import { readJsonState } from '../core/state-files.js';
import type { DockerClient } from './client.js';

export interface HoldMeta {
  id: string;
  short: string;
  name: string;
  tty: boolean;
  createdAt: string | null;
  /** Link name → the order it was linked in, oldest generation first (absent in older holds). */
  order?: Record<string, number>;
}

/** A log file in the hold. */
export interface HeldFile {
  path: string;
  compressed: boolean;
  dev: string;
  ino: string;
  size: number;
  /** Links to the inode: 1 means only the hold keeps these bytes on disk. */
  links: number;
  /** Its place in the order of linking (older generations first), or null when not recorded. */
  seq: number | null;
}

export interface HeldContainer {
  dir: string;
  meta: HoldMeta;
  files: HeldFile[];
}

/** Where the hold is: MIZUAL_HOLD_DIR, else beside the containers under Docker's data root. */
export async function resolveHoldDir(config: Pick<Config, 'holdDir'>, docker: DockerClient): Promise<string> {
  return config.holdDir ?? path.join(await docker.dataRoot(), 'mizual-hold');
}

/** Every container in the hold with its files (a hold directory without a readable meta.json is skipped). */
export async function listHeld(dir: string): Promise<HeldContainer[]> {
  let ids: string[];
  try {
    ids = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const held: HeldContainer[] = [];
  for (const id of ids) {
    const own = path.join(dir, id);
    const read = await readJsonState(path.join(own, 'meta.json'));
    if (read.status !== 'ok') continue;
    const meta = read.data as HoldMeta;
    const files: HeldFile[] = [];
    for (const name of await fsp.readdir(own).catch(() => [] as string[])) {
      const m = /^(\d+)-(\d+)(\.gz)?$/.exec(name);
      if (!m) continue;
      const info = await fsp.stat(path.join(own, name)).catch(() => null);
      if (!info?.isFile()) continue;
      files.push({
        path: path.join(own, name),
        compressed: m[3] === '.gz',
        dev: m[1] as string,
        ino: m[2] as string,
        size: info.size,
        links: info.nlink,
        seq: meta.order?.[name] ?? null,
      });
    }
    held.push({ dir: own, meta, files });
  }
  return held;
}

/** The hold's size: every held byte, and the bytes only the hold keeps (their container is gone or rotated them). */
export async function holdSize(dir: string): Promise<{ containers: number; bytes: number; onlyHeldBytes: number }> {
  const held = await listHeld(dir);
  let bytes = 0;
  let onlyHeldBytes = 0;
  for (const c of held) {
    for (const f of c.files) {
      bytes += f.size;
      if (f.links <= 1) onlyHeldBytes += f.size;
    }
  }
  return { containers: held.length, bytes, onlyHeldBytes };
}
