/** The boot collector: seconds since boot (`/proc/uptime`) and this boot's id. */
import { promises as fsp } from 'node:fs';
import { MizualError } from '../core/errors.js';
import { procPath, readProcFile, type HostOptions } from './proc.js';

/** Read seconds since boot from `<procRoot>/uptime`. */
export async function readUptimeSeconds(opts?: HostOptions): Promise<number> {
  const path = procPath(opts, 'uptime');
  const seconds = Number((await readProcFile(path)).trim().split(/\s+/)[0]);
  if (!Number.isFinite(seconds)) throw new MizualError(`${path}: unexpected content`);
  return seconds;
}

/** This boot's id (`<procRoot>/sys/kernel/random/boot_id`), to tell a reboot from a counter that went backwards; null if unreadable. */
export async function readBootId(opts?: HostOptions): Promise<string | null> {
  try {
    return (await fsp.readFile(procPath(opts, 'sys', 'kernel', 'random', 'boot_id'), 'utf8')).trim() || null;
  } catch {
    return null;
  }
}
