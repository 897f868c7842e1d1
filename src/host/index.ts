/**
 * The host's figures, one collector per file the way node_exporter keeps them (cpu, memory, loadavg,
 * uptime and boot, filesystem, netdev, vmstat); this index samples them together and is what the
 * tools import.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { computeCpuPercent, readCpuTimes, type CpuTimes } from './cpu.js';
import { readFilesystemReport, type DiskFigures, type MountEntry } from './filesystem.js';
import { readLoad, type LoadFigures } from './loadavg.js';
import { readMemory, type MemoryFigures } from './memory.js';
import { computeNetRates, readNetCounters, type NetCounters, type NetRates } from './netdev.js';
import type { HostOptions } from './proc.js';
import { readUptimeSeconds } from './uptime.js';

export * from './cpu.js';
export * from './filesystem.js';
export * from './loadavg.js';
export * from './memory.js';
export * from './netdev.js';
export type { HostOptions } from './proc.js';
export * from './uptime.js';
export * from './vmstat.js';

export interface HostSample {
  cpu: CpuTimes;
  net: NetCounters[];
  /** performance.now() when the sample was taken (ms, monotonic). */
  at: number;
}

export interface HostFigures {
  uptimeSeconds: number;
  load: LoadFigures;
  cpu: { percent: number; cores: number };
  memory: MemoryFigures;
  disks: DiskFigures[];
  /** Mounts that did not answer statfs within 2 s (a hung NFS or FUSE mount). */
  disksNotAnswering: MountEntry[];
  network: NetRates[];
}

/** Read all the host figures, sampling CPU and network twice `intervalMs` apart. */
export async function readHostFigures(
  opts: HostOptions & { intervalMs: number; keepVeth?: boolean },
): Promise<HostFigures> {
  // Everything read once runs while the interval elapses, so the call costs about intervalMs.
  const sampling = (async (): Promise<[HostSample, HostSample]> => {
    const before = await readHostSample(opts);
    await sleep(Math.max(0, opts.intervalMs));
    return [before, await readHostSample(opts)];
  })();
  const [[before, after], uptimeSeconds, load, memory, filesystems] = await Promise.all([
    sampling,
    readUptimeSeconds(opts),
    readLoad(opts),
    readMemory(opts),
    readFilesystemReport(opts),
  ]);
  return {
    uptimeSeconds,
    load,
    cpu: { percent: computeCpuPercent(before.cpu, after.cpu), cores: after.cpu.cores },
    memory,
    disks: filesystems.disks,
    disksNotAnswering: filesystems.notAnswering,
    network: computeNetRates(before.net, after.net, after.at - before.at),
  };
}

/** Read the counters that need two samples (CPU, network) at one instant. */
export async function readHostSample(opts?: HostOptions & { keepVeth?: boolean }): Promise<HostSample> {
  const [cpu, net] = await Promise.all([readCpuTimes(opts), readNetCounters(opts)]);
  return { cpu, net, at: performance.now() };
}
