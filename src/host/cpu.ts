/** The CPU collector: `/proc/stat`'s aggregate line, busy share between two readings. */
import { busyShare } from '../core/units.js';
import { MizualError } from '../core/errors.js';
import { clamp, parseProcFile, roundTo1, type HostOptions } from './proc.js';

export interface CpuTimes {
  /** Jiffies spent not idle (total - idle - iowait), summed over all CPUs since boot. */
  busy: number;
  /** All jiffies (user..steal), summed over all CPUs since boot. */
  total: number;
  /** Number of `cpuN` lines, i.e. online CPUs. */
  cores: number;
}

/** Parse `/proc/stat` text into busy/total jiffies and the number of CPUs. */
export function parseProcStat(text: string, source = 'stat'): CpuTimes {
  let aggregate: number[] | undefined;
  let cores = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu ')) aggregate = line.trim().split(/\s+/).slice(1).map(Number);
    else if (/^cpu\d+\s/.test(line)) cores++;
  }
  if (!aggregate || aggregate.length < 4 || aggregate.some((n) => !Number.isFinite(n))) {
    throw new MizualError(`${source}: no aggregate "cpu" line`);
  }
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
  // counted in user and nice, so only the first eight columns make up the total.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = aggregate;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total, cores: Math.max(cores, 1) };
}

/** CPU busy percent between two readings, 0..100 with one decimal. */
export function computeCpuPercent(before: CpuTimes, after: CpuTimes): number {
  const share = busyShare(before, after);
  return share === null ? 0 : roundTo1(clamp(share * 100, 0, 100));
}

/** Read the aggregate CPU times from `<procRoot>/stat`. */
export function readCpuTimes(opts?: HostOptions): Promise<CpuTimes> {
  return parseProcFile(opts, ['stat'], parseProcStat);
}
