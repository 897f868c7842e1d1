/**
 * Container CPU and memory: read from cgroup files when the engine is local (no API round trip, well
 * under a millisecond each), else from the engine's one-shot stats; two readings make a CPU %.
 */
import os from 'node:os';
import { access, readFile } from 'node:fs/promises';
import { busyShare } from '../core/units.js';

export interface ContainerStats {
  id: string;
  /** 100 = one full core, like `docker stats`; null when the container had no two samples. */
  cpuPercent: number | null;
  /** Usage minus inactive file cache, like `docker stats`; null when unknown. */
  memoryBytes: number | null;
}

export interface CpuReading {
  source: 'cgroup' | 'api';
  cpuNs: number;
  /** For 'api': the engine's system_cpu_usage. For 'cgroup': wall-clock ns times onlineCpus. */
  systemNs: number;
  onlineCpus: number;
  memoryBytes: number | null;
}

/** An opaque point-in-time CPU/memory reading of some containers; pass two to computeContainerStats. */
export interface ContainerCpuSample {
  readonly takenAtMs: number;
  readonly readings: ReadonlyMap<string, CpuReading>;
}

/** Docker's CPU % formula: container CPU time over system CPU time, scaled so 100 = one core. */
export function containerCpuPercent(
  before: { cpuNs: number; systemNs: number },
  after: { cpuNs: number; systemNs: number; onlineCpus: number },
): number | null {
  const share = busyShare({ busy: before.cpuNs, total: before.systemNs }, { busy: after.cpuNs, total: after.systemNs });
  return share === null ? null : share * after.onlineCpus * 100;
}

/** Memory the way `docker stats` shows it: usage minus the inactive file cache. */
export function memoryWithoutCache(usage: number, stats: Record<string, number | undefined>): number {
  const v1 = stats['total_inactive_file'];
  if (v1 !== undefined) return v1 < usage ? usage - v1 : usage;
  const v2 = stats['inactive_file'];
  if (v2 !== undefined && v2 < usage) return usage - v2;
  return usage;
}

/** Per-container CPU % and memory between two samples taken by sampleContainerCpu. */
export function computeContainerStats(before: ContainerCpuSample, after: ContainerCpuSample): ContainerStats[] {
  const result: ContainerStats[] = [];
  for (const [id, now] of after.readings) {
    const then = before.readings.get(id);
    const cpuPercent = then && then.source === now.source ? containerCpuPercent(then, now) : null;
    result.push({ id, cpuPercent: cpuPercent === null ? null : round2(cpuPercent), memoryBytes: now.memoryBytes });
  }
  return result;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) out[key] = Number(value);
  }
  return out;
}

export function cpuCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

// ---------------------------------------------------------------------------------------------
// cgroup files
// ---------------------------------------------------------------------------------------------

export type CgroupLayout = { version: 1; cpuDirs: string[]; memoryDirs: string[] } | { version: 2; dirs: string[] };

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Find where this host keeps per-container cgroups: v1 (cgroupfs or systemd driver) or v2. */
export async function detectCgroupLayout(root: string): Promise<CgroupLayout | null> {
  if (await exists(`${root}/cgroup.controllers`)) {
    return { version: 2, dirs: [`${root}/system.slice/docker-{id}.scope`, `${root}/docker/{id}`] };
  }
  const cpuRoots = [`${root}/cpuacct`, `${root}/cpu,cpuacct`, `${root}/cpuacct,cpu`];
  const cpuDirs: string[] = [];
  for (const base of cpuRoots) {
    if (await exists(`${base}/cpuacct.usage`))
      cpuDirs.push(`${base}/docker/{id}`, `${base}/system.slice/docker-{id}.scope`);
  }
  if (cpuDirs.length === 0 || !(await exists(`${root}/memory/memory.usage_in_bytes`))) return null;
  return {
    version: 1,
    cpuDirs,
    memoryDirs: [`${root}/memory/docker/{id}`, `${root}/memory/system.slice/docker-{id}.scope`],
  };
}

async function readFirst(templates: string[], id: string, file: string): Promise<string | null> {
  for (const template of templates) {
    try {
      return await readFile(`${template.replace('{id}', id)}/${file}`, 'utf8');
    } catch {
      // Try the next layout.
    }
  }
  return null;
}

export async function readCgroupReading(
  layout: CgroupLayout,
  id: string,
  onlineCpus: number,
): Promise<CpuReading | null> {
  // Cgroup directories are named by the full id only.
  if (!/^[0-9a-f]{64}$/.test(id)) return null;
  const wallNs = Number(process.hrtime.bigint());
  if (layout.version === 1) {
    const [usage, memUsage, memStat] = await Promise.all([
      readFirst(layout.cpuDirs, id, 'cpuacct.usage'),
      readFirst(layout.memoryDirs, id, 'memory.usage_in_bytes'),
      readFirst(layout.memoryDirs, id, 'memory.stat'),
    ]);
    if (usage === null) return null;
    return {
      source: 'cgroup',
      cpuNs: Number(usage.trim()),
      systemNs: wallNs * onlineCpus,
      onlineCpus,
      memoryBytes:
        memUsage === null ? null : memoryWithoutCache(Number(memUsage.trim()), memStat ? parseKeyValues(memStat) : {}),
    };
  }
  const [cpuStat, memCurrent, memStat] = await Promise.all([
    readFirst(layout.dirs, id, 'cpu.stat'),
    readFirst(layout.dirs, id, 'memory.current'),
    readFirst(layout.dirs, id, 'memory.stat'),
  ]);
  if (cpuStat === null) return null;
  const usageUsec = parseKeyValues(cpuStat)['usage_usec'];
  if (usageUsec === undefined) return null;
  const stat = memStat ? parseKeyValues(memStat) : {};
  // cgroup v2 memory.stat has inactive_file but no total_ prefix.
  delete stat['total_inactive_file'];
  return {
    source: 'cgroup',
    cpuNs: usageUsec * 1000,
    systemNs: wallNs * onlineCpus,
    onlineCpus,
    memoryBytes: memCurrent === null ? null : memoryWithoutCache(Number(memCurrent.trim()), stat),
  };
}

export interface RawStats {
  cpu_stats?: {
    cpu_usage?: { total_usage?: number; percpu_usage?: number[] };
    system_cpu_usage?: number;
    online_cpus?: number;
  };
  memory_stats?: { usage?: number; stats?: Record<string, number> };
}

/** A reading from the engine's one-shot stats answer. */
export function apiReading(raw: RawStats): CpuReading {
  const usage = raw.memory_stats?.usage;
  const onlineCpus = raw.cpu_stats?.online_cpus || raw.cpu_stats?.cpu_usage?.percpu_usage?.length || cpuCount();
  return {
    source: 'api',
    cpuNs: raw.cpu_stats?.cpu_usage?.total_usage ?? 0,
    systemNs: raw.cpu_stats?.system_cpu_usage ?? 0,
    onlineCpus,
    memoryBytes: typeof usage === 'number' ? memoryWithoutCache(usage, raw.memory_stats?.stats ?? {}) : null,
  };
}
