/** The memory collector: `/proc/meminfo`. */
import { MizualError } from '../core/errors.js';
import { parseProcFile, roundTo1, type HostOptions } from './proc.js';

export interface MemoryFigures {
  totalBytes: number;
  availableBytes: number;
  /** total - available: memory the kernel cannot hand out without swapping. */
  usedBytes: number;
  /** usedBytes / totalBytes, 0..100 with one decimal. */
  usedPercent: number;
  swapTotalBytes: number;
  swapUsedBytes: number;
  swapFreeBytes: number;
}

/** Parse `/proc/meminfo` text; used memory is MemTotal - MemAvailable. */
export function parseMeminfo(text: string, source = 'meminfo'): MemoryFigures {
  const kib = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([\w()]+):\s+(\d+)/.exec(line);
    if (match?.[1] && match[2]) kib.set(match[1], Number(match[2]));
  }
  const total = kib.get('MemTotal');
  if (total === undefined) throw new MizualError(`${source}: no MemTotal line`);
  // Kernels before 3.14 lack MemAvailable; free + buffers + page cache is the usual stand-in.
  const available = Math.min(
    total,
    kib.get('MemAvailable') ??
      (kib.get('MemFree') ?? 0) + (kib.get('Buffers') ?? 0) + (kib.get('Cached') ?? 0) + (kib.get('SReclaimable') ?? 0),
  );
  const swapTotal = kib.get('SwapTotal') ?? 0;
  const swapFree = Math.min(swapTotal, kib.get('SwapFree') ?? 0);
  const used = total - available;
  return {
    totalBytes: total * 1024,
    availableBytes: available * 1024,
    usedBytes: used * 1024,
    usedPercent: total > 0 ? roundTo1((used / total) * 100) : 0,
    swapTotalBytes: swapTotal * 1024,
    swapUsedBytes: (swapTotal - swapFree) * 1024,
    swapFreeBytes: swapFree * 1024,
  };
}

/** Read memory and swap figures from `<procRoot>/meminfo`. */
export function readMemory(opts?: HostOptions): Promise<MemoryFigures> {
  return parseProcFile(opts, ['meminfo'], parseMeminfo);
}
