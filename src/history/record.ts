/**
 * One sample per mizual-alerts run, made of what the checks already read (CPU, memory, filesystems,
 * network counters, each container's inspect), plus the load average, each container's cgroup CPU and
 * memory files (local engine only: no API round trip), and the application and database figures when
 * their collectors ran.
 */
import type { AppReport } from '../app/model.js';
import type { Trends } from '../core/trends.js';
import type { DbReport } from '../db/model.js';
import type { ContainerDetails } from '../docker/model.js';
import { cpuCount, detectCgroupLayout, readCgroupReading } from '../docker/stats.js';
import type { DiskFigures, LoadFigures, MemoryFigures, NetCounters } from '../host/index.js';
import { seriesKey, type EventKind, type RunMemory, type SampleValues, type StoredEvent } from './model.js';
import {
  appendSample,
  dayOf,
  emptySegment,
  pruneSegments,
  segmentsFromTrends,
  writeSegment,
  type LoadedHistory,
} from './store.js';

export interface ContainerReading {
  name: string;
  details: ContainerDetails | null;
  /** Cumulative CPU time in ms and memory without cache, from its cgroup; null when not readable here. */
  cpuMs: number | null;
  memoryBytes: number | null;
}

/** The readings of one run; null where a check could not read. */
export interface RunReadings {
  cpuPercent: number | null;
  load: LoadFigures | null;
  memory: MemoryFigures | null;
  disks: readonly DiskFigures[] | null;
  net: readonly NetCounters[] | null;
  /** null when Docker was skipped or unreachable. */
  containers: readonly ContainerReading[] | null;
  app?: AppReport;
  db?: DbReport;
  /** The run's own CPU seconds and peak RSS (process.resourceUsage), read just before recording. */
  self?: { cpuSeconds: number; rssBytes: number };
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** The figures of a run as a sample (rounded to what a chart can show, so a week stays small). */
export function sampleValues(r: RunReadings): SampleValues {
  const v: SampleValues = {};
  if (r.cpuPercent !== null) v['cpu'] = round1(r.cpuPercent);
  if (r.load) v['load1'] = Math.round(r.load.load1 * 100) / 100;
  if (r.memory) {
    v['mem.avail'] = r.memory.availableBytes;
    v['mem.total'] = r.memory.totalBytes;
    v['swap.used'] = r.memory.swapUsedBytes;
  }
  for (const d of r.disks ?? []) {
    v[seriesKey('fs.pct', d.mount)] = round1(d.usedPercent);
    v[seriesKey('fs.used', d.mount)] = d.usedBytes;
  }
  for (const n of r.net ?? []) {
    v[seriesKey('net.rx', n.iface)] = n.rxBytes;
    v[seriesKey('net.tx', n.iface)] = n.txBytes;
  }
  for (const c of r.containers ?? []) {
    v[seriesKey('ctr.up', c.name)] = c.details?.state === 'running' ? 1 : 0;
    if (c.details) v[seriesKey('ctr.restarts', c.name)] = c.details.restartCount;
    if (c.cpuMs !== null) v[seriesKey('ctr.cpu', c.name)] = Math.round(c.cpuMs);
    if (c.memoryBytes !== null) v[seriesKey('ctr.mem', c.name)] = c.memoryBytes;
  }
  const app = r.app;
  if (app) {
    const seconds = Math.max(1, app.window.seconds);
    for (const h of app.http) {
      v[seriesKey('app.rps', h.container)] = round3(h.requests / seconds);
      v[seriesKey('app.5xx', h.container)] = round1(h.errorRate * 100);
      if (h.duration) v[seriesKey('app.p95', h.container)] = round3(h.duration.p95);
    }
    const failed = new Map<string, number>();
    for (const t of app.tasks) failed.set(t.container, (failed.get(t.container) ?? 0) + t.failed);
    for (const [container, n] of failed) v[seriesKey('task.failed', container)] = n;
    for (const q of app.queues) if (q.length !== null) v[seriesKey('queue', q.queue)] = q.length;
    for (const p of app.probes) if (p.seconds !== null) v[seriesKey('probe', p.name)] = round3(p.seconds);
  }
  if (r.self) {
    v['self.cpu-seconds'] = round3(r.self.cpuSeconds);
    v['self.rss'] = r.self.rssBytes;
  }
  const db = r.db;
  if (db?.available && db.connections) {
    v['db.conn'] = db.connections.total;
    v['db.longest'] = round1(Math.max(0, ...db.longQueries.map((q) => q.seconds)));
  }
  return v;
}

/** The restarts, OOM kills, deploys and reboots this run saw, from the trends before and after the checks. */
export function runEvents(before: Trends, after: Trends, nowMs: number, hadRuns: boolean): StoredEvent[] {
  const t = Math.floor(nowMs / 1000);
  const out: StoredEvent[] = [];
  const add = (kind: EventKind, subject: string, n: number): number => out.push([t, kind, subject, n]);
  if (before.host.bootId !== null && after.host.bootId !== null && before.host.bootId !== after.host.bootId) {
    add('reboot', 'host', 1);
  }
  for (const [at, n] of after.host.ooms) if (at === nowMs) add('oom', 'host', n);
  for (const [name, c] of Object.entries(after.containers)) {
    const p = before.containers[name];
    if (p && p.id !== c.id) add('deploy', name, 1);
    else if (!p && hadRuns) add('appeared', name, 1);
    for (const [at, n] of c.restarts) if (at === nowMs) add('restart', name, n);
    if (c.ooms.includes(nowMs)) add('oom', name, 1);
  }
  return out;
}

/** Each container's cgroup CPU (ms) and memory, for those whose files are readable here (a local engine). */
export async function readContainerCounters(
  seen: readonly { spec: { name: string }; details: ContainerDetails | null }[],
  cgroupRoot = '/sys/fs/cgroup',
): Promise<ContainerReading[]> {
  const running = seen.filter((s) => s.details?.state === 'running');
  const layout = running.length > 0 ? await detectCgroupLayout(cgroupRoot).catch(() => null) : null;
  const cpus = cpuCount();
  return Promise.all(
    seen.map(async ({ spec, details }) => {
      const reading =
        layout && details?.state === 'running'
          ? await readCgroupReading(layout, details.id, cpus).catch(() => null)
          : null;
      return {
        name: spec.name,
        details,
        cpuMs: reading ? reading.cpuNs / 1e6 : null,
        memoryBytes: reading?.memoryBytes ?? null,
      };
    }),
  );
}

export interface RecordOptions {
  nowMs: number;
  readings: RunReadings;
  /** The trends the checks started from and returned. */
  before: Trends;
  after: Trends;
  days: number;
}

/**
 * Append this run's sample and events to today's segment and write it (atomically); the first run of this
 * version also writes what the old alert state's trends held. Segments older than `days` are removed.
 */
export async function recordRun(history: LoadedHistory, options: RecordOptions): Promise<void> {
  const { nowMs } = options;
  const today = dayOf(nowMs);
  const hadRuns = history.segments.some((s) => s.t.length > 0 || s.last !== null);
  const migrated = history.days.length === 0 && history.segments.length === 0 ? segmentsFromTrends(options.before) : [];
  const written = new Set<string>();
  for (const seg of migrated) {
    if (seg.day === today) continue;
    await writeSegment(history.dir, seg);
    written.add(seg.day);
  }
  const seg =
    history.segments.find((s) => s.day === today) ?? migrated.find((s) => s.day === today) ?? emptySegment(today);
  const t = Math.floor(nowMs / 1000);
  if (seg.t.length === 0 || (seg.t.at(-1) as number) < t) appendSample(seg, t, sampleValues(options.readings));
  seg.e.push(...runEvents(options.before, options.after, nowMs, hadRuns || migrated.length > 0));
  // A container the previous sample saw (it has a restart count) and this run found missing was removed.
  const previous =
    seg.t.length >= 2 ? seg : ([...history.segments].reverse().find((s) => s.t.length > 0 && s !== seg) ?? seg);
  const at = previous === seg ? seg.t.length - 2 : previous.t.length - 1;
  for (const c of options.readings.containers ?? []) {
    if (c.details === null && at >= 0 && previous.s[seriesKey('ctr.restarts', c.name)]?.[at] != null) {
      seg.e.push([t, 'removed', c.name, 1]);
    }
  }
  seg.last = memoryOf(options.after);
  await writeSegment(history.dir, seg);
  written.add(today);
  await pruneSegments(history.dir, [...history.days, ...written], nowMs, options.days);
}

function memoryOf(trends: Trends): RunMemory {
  return {
    bootId: trends.host.bootId,
    oomKills: trends.host.oomKills,
    containers: Object.fromEntries(
      Object.entries(trends.containers).map(([n, c]) => [
        n,
        { id: c.id, restartCount: c.restartCount, finishedAt: c.finishedAt },
      ]),
    ),
  };
}
