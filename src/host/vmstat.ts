/** The vmstat collector: the kernel's OOM kills. */
import { procPath, readProcFile, type HostOptions } from './proc.js';

/** Processes the kernel's OOM killer has killed since boot (`oom_kill` in `<procRoot>/vmstat`, kernel 4.13+); null when absent. */
export async function readOomKills(opts?: HostOptions): Promise<number | null> {
  const text = await readProcFile(procPath(opts, 'vmstat'));
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match ? Number(match[1]) : null;
}
