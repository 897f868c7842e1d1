/**
 * The checks of mizual-alerts: each reads the system once and returns observations; the state
 * module decides what they mean over time. Checks run in parallel, so a CPU sampling wait costs
 * no more than the slowest other check.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CpuBaseline, Observation } from './state.js';
import { checkDatabase, type DbCheckOptions } from './db-checks.js';
import type { DbReport } from '../db/model.js';
import {
  containerEventChecks,
  diskForecastChecks,
  hostOomCheck,
  netVolumeChecks,
  type SeenContainer,
  type TrendLimits,
} from './trends.js';
import type { ContainerSpec } from '../core/config.js';
import { createDockerClient, DockerApiError } from '../docker/client.js';
import { listGenerations, logRotationConfigured } from '../docker/log-files.js';
import { type ContainerDetails } from '../docker/model.js';
import type { DialFn } from '../docker/compose-hosts.js';
import { describeError } from '../core/errors.js';
import {
  computeCpuPercent,
  isVirtualInterface,
  readBootId,
  readCpuTimes,
  readFilesystemReport,
  readLoad,
  readMemory,
  readNetCounters,
  readOomKills,
  STATFS_TIMEOUT_MS,
  type CpuTimes,
  type FilesystemReport,
  type MemoryFigures,
} from '../host/index.js';
import { describeUrl, requestUrl } from '../core/http-client.js';
import { readLastUpload } from '../core/ship-state.js';
import type { Thresholds } from '../core/thresholds.js';
import type { Trends } from '../core/trends.js';
import { formatBytes, formatUptime } from '../core/units.js';
import { readContainerCounters, type RunReadings } from '../history/record.js';

/** A stored CPU baseline older than this is not used (the delta would average too much away). */
export const CPU_BASELINE_MAX_AGE_MS = 15 * 60_000;
const HEALTH_TIMEOUT_MS = 5_000;

export interface CheckOptions {
  procRoot?: string;
  thresholds: Thresholds;
  cpuFor: number;
  /** Sampling wait when there is no usable baseline; 0 never waits (CPU is skipped until a baseline exists). */
  cpuSampleMs: number;
  previousCpu: CpuBaseline | null;
  /** null skips the container checks. */
  containers: ContainerSpec[] | null;
  dockerHost?: string;
  healthUrl?: string;
  stateDir: string;
  shipMaxAgeMs: number;
  now: Date;
  limits: TrendLimits;
  /** What the previous runs stored, and when the last one ran (null on the first). */
  trends: Trends;
  lastRunMs: number | null;
  /** sysfs root, to tell physical interfaces from virtual ones. */
  sysRoot?: string;
  /** The database checks, when a database URL is configured. */
  db?: DbCheckOptions | null;
  /** Where to connect for a URL's host (Compose names: src/docker/compose-hosts.ts). */
  dial?: DialFn;
}

/** Run every check; also returns the CPU counters and trends to store, and what was read (the history's sample). */
export async function runChecks(options: CheckOptions): Promise<{
  observations: Observation[];
  cpu: CpuBaseline | null;
  trends: Trends;
  db: DbReport | null;
  readings: RunReadings;
}> {
  const nowMs = options.now.getTime();
  const filesystems = readFilesystemReport({ procRoot: options.procRoot });
  const database = options.db
    ? checkDatabase({ ...options.db, dial: options.dial }, options.stateDir, options.now)
    : null;
  const memoryRead = readMemory({ procRoot: options.procRoot });
  const inspected = options.containers ? inspectContainers(options.containers, options.dockerHost) : null;
  const [cpu, memory, disks, containers, health, shipping, host, network] = await Promise.all([
    checkCpu(options),
    checkMemory(options, memoryRead),
    checkDisks(options, filesystems),
    inspected ? inspected.then((i) => containerObservations(options.containers ?? [], i)) : [],
    options.healthUrl
      ? checkHealthUrl(options.healthUrl, HEALTH_TIMEOUT_MS, options.limits.healthSlowMs, options.dial)
      : [],
    checkShipping(options.stateDir, options.shipMaxAgeMs, options.now),
    Promise.all([readOomKills({ procRoot: options.procRoot }).catch(() => null), readBootId(options)]),
    readPhysicalNetCounters(options),
  ]);
  const [oomKills, bootId] = host;
  const prev = options.trends;
  const trends: Trends = { ...prev };
  const observations = [cpu.observation, memory, ...disks];
  const fs = (await filesystems.catch(() => null))?.disks;
  if (fs) {
    const forecast = diskForecastChecks(prev.disks, fs, nowMs, options.limits.diskDays);
    observations.push(...forecast.observations);
    trends.disks = forecast.disks;
  }
  const hostOom = hostOomCheck(prev.host, { oomKills, bootId }, nowMs);
  observations.push(hostOom.observation);
  trends.host = hostOom.host;
  observations.push(...containers);
  const seen = inspected ? await inspected : null;
  if (seen && 'found' in seen) {
    const events = containerEventChecks(prev.containers, seen.found, {
      nowMs,
      lastRunMs: options.lastRunMs,
      hostKilled: hostOom.killed,
      restartsLimit: options.limits.restarts,
    });
    observations.push(...events.observations, ...(await checkDockerLogs(seen.found, options.limits.dockerLogBytes)));
    trends.containers = events.containers;
  } else if (seen) {
    // Engine unreachable: the event checks are unknown and their history is kept as it was.
    for (const spec of options.containers ?? []) {
      for (const check of [`oom:${spec.short}`, `restarts:${spec.short}`]) {
        const message = `container ${spec.name}: not checked`;
        observations.push({ check, severity: 'warning', value: null, threshold: null, message, unknown: true });
      }
    }
  }
  if (network) {
    const rebooted = prev.host.bootId !== null && bootId !== null && prev.host.bootId !== bootId;
    const net = netVolumeChecks(prev.net, network, {
      nowMs,
      rebooted,
      inBytes: options.limits.netInBytes,
      outBytes: options.limits.netOutBytes,
    });
    observations.push(...net.observations);
    trends.net = net.net;
  }
  const db = await database;
  observations.push(...health, shipping, ...(db?.observations ?? []));
  const readings: RunReadings = {
    cpuPercent: typeof cpu.observation.value === 'number' ? cpu.observation.value : null,
    load: await readLoad({ procRoot: options.procRoot }).catch(() => null),
    memory: await memoryRead.catch((): MemoryFigures | null => null),
    disks: fs ?? null,
    net: network,
    containers: seen && 'found' in seen ? await readContainerCounters(seen.found) : null,
  };
  return { observations, cpu: cpu.baseline, trends, db: db?.report ?? null, readings };
}

/** The counters of the physical interfaces (bridges, veth, ifb carry the same traffic again); null if unreadable. */
async function readPhysicalNetCounters(options: Pick<CheckOptions, 'procRoot' | 'sysRoot'>) {
  try {
    const all = await readNetCounters({ procRoot: options.procRoot });
    const virtual = await Promise.all(all.map((c) => isVirtualInterface(c.iface, options.sysRoot)));
    return all.filter((_, i) => !virtual[i]);
  } catch {
    return null;
  }
}

const pct = (n: number): string => `${Number.isInteger(n) ? n : n.toFixed(1)}%`;

/**
 * CPU busy % since the previous run's counters when they are fresh (no wait, and the figure covers
 * the whole interval between cron runs), else over a real sampling wait.
 */
export async function checkCpu(
  options: Pick<CheckOptions, 'procRoot' | 'thresholds' | 'cpuFor' | 'cpuSampleMs' | 'previousCpu'>,
): Promise<{ observation: Observation; baseline: CpuBaseline | null }> {
  const threshold = options.thresholds.cpu;
  const base = { check: 'cpu', severity: 'warning' as const, threshold, forRuns: options.cpuFor };
  let before: CpuTimes | CpuBaseline;
  let after: CpuTimes;
  let windowMs: number;
  try {
    const first = await readCpuTimes({ procRoot: options.procRoot });
    const startedAt = Date.now();
    const prev = options.previousCpu;
    const age = prev ? startedAt - prev.takenAt : Infinity;
    if (prev && age > 0 && age <= CPU_BASELINE_MAX_AGE_MS && first.total > prev.total && first.busy >= prev.busy) {
      [before, after, windowMs] = [prev, first, age];
    } else if (options.cpuSampleMs > 0) {
      await sleep(options.cpuSampleMs);
      [before, after, windowMs] = [first, await readCpuTimes({ procRoot: options.procRoot }), options.cpuSampleMs];
    } else {
      const baseline = { busy: first.busy, total: first.total, takenAt: startedAt };
      const note = 'no recent baseline: measured from the next run on';
      return { observation: { ...base, value: null, message: 'cpu not measured yet', skipped: true, note }, baseline };
    }
    const percent = computeCpuPercent({ ...before, cores: 1 }, after);
    const seconds = windowMs / 1000;
    const over = seconds < 60 ? `${seconds.toFixed(1)}s` : `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
    return {
      observation: {
        ...base,
        value: percent,
        measure: { value: percent, threshold },
        message: `cpu ${pct(percent)} busy over ${over} (threshold ${pct(threshold)})`,
      },
      baseline: { busy: after.busy, total: after.total, takenAt: Date.now() },
    };
  } catch (err) {
    return {
      observation: { ...base, value: null, message: `cpu: ${describeError(err)}`, unknown: true },
      baseline: null,
    };
  }
}

/** Memory used as (MemTotal - MemAvailable) / MemTotal. */
export async function checkMemory(
  options: Pick<CheckOptions, 'procRoot' | 'thresholds'>,
  read: Promise<MemoryFigures> = readMemory({ procRoot: options.procRoot }),
): Promise<Observation> {
  const threshold = options.thresholds.memory;
  const base = { check: 'memory', severity: 'warning' as const, threshold };
  try {
    const mem = await read;
    const value = mem.usedPercent;
    const message = `memory ${pct(value)} used (threshold ${pct(threshold)})`;
    return { ...base, value, measure: { value, threshold }, message };
  } catch (err) {
    return { ...base, value: null, message: `memory: ${describeError(err)}`, unknown: true };
  }
}

/** Space (`disk:<mount>`) and inodes (`inodes:<mount>`) of every real filesystem, CRITICAL above the threshold. */
export async function checkDisks(
  options: Pick<CheckOptions, 'procRoot' | 'thresholds'>,
  read: Promise<FilesystemReport> = readFilesystemReport({ procRoot: options.procRoot }),
): Promise<Observation[]> {
  const threshold = options.thresholds.disk;
  try {
    const { disks, notAnswering } = await read;
    // A hung mount is UNKNOWN for its own check, not a hang of the whole run.
    const hung = notAnswering.map((m): Observation => ({
      check: `disk:${m.mount}`,
      severity: 'critical',
      value: null,
      threshold,
      message: `disk ${m.mount} (${m.fsType} ${m.device}) not answering: statfs took over ${STATFS_TIMEOUT_MS / 1000} s`,
      unknown: true,
    }));
    return [
      ...hung,
      ...disks.flatMap((d) => {
        // Space, and inodes where the filesystem counts them: the same check on two figures.
        const used = (what: 'disk' | 'inodes', value: number): Observation => ({
          check: `${what}:${d.mount}`,
          severity: 'critical',
          value,
          threshold,
          measure: { value, threshold },
          message: `${what} ${d.mount} ${pct(value)} used (threshold ${pct(threshold)})`,
        });
        const space = used('disk', d.usedPercent);
        return d.inodesTotal === 0 ? [space] : [space, used('inodes', d.inodesUsedPercent)];
      }),
    ];
  } catch (err) {
    const message = `disks: ${describeError(err)}`;
    return [{ check: 'disk', severity: 'critical', value: null, threshold, message, unknown: true }];
  }
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' };

/** Whether a container is in trouble, and why (exit code, signal, OOM kill, restarts, health). */
export function describeContainer(
  spec: ContainerSpec,
  details: ContainerDetails | null,
): { failing: boolean; state: string; message: string } {
  const name = `container ${spec.name}`;
  const compose = spec.service ? ` (Compose service ${spec.service} of ${spec.project ?? '?'})` : '';
  if (!details && spec.origin === 'remembered') {
    return {
      failing: true,
      state: 'missing',
      message: `${name}${compose} is gone: watched before, now not on this host`,
    };
  }
  if (!details && spec.origin === 'one-shot') return { failing: false, state: 'missing', message: `${name} removed` };
  if (!details) return { failing: true, state: 'missing', message: `${name} does not exist` };
  const code = details.exitCode;
  const signal = code > 128 ? SIGNALS[code - 128] : undefined;
  const exit = `exit code ${code}${signal ? `, ${signal}` : ''}${details.oomKilled ? ', OOM-killed' : ''}`;
  // A one-shot (a migration, restart "no") is meant to exit: only a non-zero exit is worth a WARNING.
  if (spec.origin === 'one-shot' && details.state === 'exited') {
    return { failing: code !== 0, state: 'exited', message: `${name} (one-shot) exited (${exit})` };
  }
  switch (details.state) {
    case 'running':
      if (details.health === 'unhealthy') return { failing: true, state: 'unhealthy', message: `${name} unhealthy` };
      return {
        failing: false,
        state: 'running',
        message: `${name} running${details.health === 'none' ? '' : ` (${details.health})`}`,
      };
    case 'exited':
      return { failing: true, state: 'exited', message: `${name} exited (${exit})` };
    case 'restarting':
      return {
        failing: true,
        state: 'restarting',
        message: `${name} restarting (${exit}, ${details.restartCount} restarts)`,
      };
    case 'dead':
      return { failing: true, state: 'dead', message: `${name} dead (${exit})` };
    case 'created':
      return { failing: true, state: 'created', message: `${name} created but never started` };
    default:
      return { failing: true, state: details.state, message: `${name} ${details.state}` };
  }
}

type Inspected = { found: SeenContainer[]; endpoint: string } | { error: unknown };

/** Inspect each configured container by exact name (a 404 is a missing container, null details). */
export async function inspectContainers(specs: readonly ContainerSpec[], dockerHost?: string): Promise<Inspected> {
  const client = createDockerClient({ host: dockerHost });
  try {
    const found = await Promise.all(
      specs.map(async (spec) => {
        try {
          const details = await client.inspectContainer(spec.name);
          // Inspect also matches an id prefix: only the exact name counts.
          return { spec, details: details.name === spec.name ? details : null };
        } catch (err) {
          if (err instanceof DockerApiError && err.statusCode === 404) return { spec, details: null };
          return { spec, error: err };
        }
      }),
    );
    const failure = found.find((f) => 'error' in f);
    if (failure && 'error' in failure) return { error: failure.error };
    return { found: found as SeenContainer[], endpoint: client.endpoint.display };
  } finally {
    client.close();
  }
}

/** The `docker` and `container:<short>` checks; an unreachable engine is one CRITICAL `docker` check. */
export function containerObservations(specs: readonly ContainerSpec[], inspected: Inspected): Observation[] {
  if ('error' in inspected) {
    const reason = describeError(inspected.error);
    const unknown = specs.map((spec) => ({
      check: `container:${spec.short}`,
      severity: 'critical' as const,
      value: null,
      threshold: null,
      message: `container ${spec.name}: not checked`,
      unknown: true,
    }));
    return [
      { check: 'docker', severity: 'critical', value: null, threshold: null, message: reason, failing: true },
      ...unknown,
    ];
  }
  const docker: Observation = {
    check: 'docker',
    severity: 'critical',
    value: 'reachable',
    threshold: null,
    message: `Docker engine reachable at ${inspected.endpoint}`,
    failing: false,
  };
  return [
    docker,
    ...inspected.found.map(({ spec, details }) => {
      const c = describeContainer(spec, details ?? null);
      return {
        check: `container:${spec.short}`,
        severity: spec.origin === 'one-shot' ? ('warning' as const) : ('critical' as const),
        value: c.state,
        threshold: null,
        message: c.message,
        failing: c.failing,
      };
    }),
  ];
}

const CAP_ADVICE =
  'cap them with "log-opts": {"max-size": "50m", "max-file": "5"} in /etc/docker/daemon.json, or logging.options ' +
  'max-size/max-file in the compose file (applies to containers created afterwards)';

/**
 * `docker-logs:<short>`: WARNING when a container's json-file log, all generations, is past limitBytes.
 * Docker's default json-file never rotates, so a chatty container fills a small disk.
 */
export async function checkDockerLogs(seen: readonly SeenContainer[], limitBytes: number): Promise<Observation[]> {
  const checked = await Promise.all(
    seen.map(async ({ spec, details: d }): Promise<Observation | null> => {
      if (!d) return null;
      const base = { check: `docker-logs:${spec.short}`, severity: 'warning' as const, threshold: limitBytes };
      if (d.logDriver !== 'json-file' || !d.logPath) {
        const note = `logs with the ${d.logDriver || 'unknown'} driver`;
        return { ...base, value: null, message: `container ${spec.name} log files not checked`, skipped: true, note };
      }
      const files = await listGenerations(d.logPath).catch(() => []);
      if (files.length === 0) {
        const note = `${d.logPath} not readable here (a remote engine, or not root)`;
        return { ...base, value: null, message: `container ${spec.name} log files not checked`, skipped: true, note };
      }
      const total = files.reduce((sum, f) => sum + f.size, 0);
      const rotated = logRotationConfigured(d.logDriver, d.logOptions);
      const how = rotated
        ? `rotated at max-size ${d.logOptions['max-size']} × max-file ${d.logOptions['max-file'] ?? '1'}: lower them`
        : `not rotated: ${CAP_ADVICE}`;
      const size = `json-file logs ${formatBytes(total)} in ${files.length} file${files.length === 1 ? '' : 's'}`;
      const message = `container ${spec.name} ${size} (threshold ${formatBytes(limitBytes)})`;
      return {
        ...base,
        value: total,
        message: total > limitBytes ? `${message}, ${how}` : message,
        failing: total > limitBytes,
        data: { files: files.length, rotation: rotated },
      };
    }),
  );
  return checked.filter((o): o is Observation => o !== null);
}

/**
 * GET the health URL: a 2xx is healthy, a 2xx slower than slowMs a WARNING, anything else (and no
 * answer within timeoutMs) CRITICAL. The response time is in the observation's data.
 */
export async function checkHealthUrl(
  url: string,
  timeoutMs = HEALTH_TIMEOUT_MS,
  slowMs = Infinity,
  dial?: DialFn,
): Promise<Observation[]> {
  const shown = describeUrl(url);
  const threshold = Number.isFinite(slowMs) ? slowMs : null;
  const base = { check: 'health', severity: 'critical' as const, threshold };
  try {
    const target = new URL(url);
    const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
    const to = dial ? await dial(target.hostname.replace(/^\[|\]$/g, ''), port) : null;
    const connectTo = to?.container ? { host: to.host, port: to.port } : undefined;
    // A slow limit at or past the timeout still needs an answer to compare.
    const answer = await requestUrl(url, {
      timeoutMs: Math.max(timeoutMs, Number.isFinite(slowMs) ? slowMs * 2 : 0),
      connectTo,
    });
    const ok = answer.status >= 200 && answer.status < 300;
    const slow = ok && answer.elapsedMs > slowMs;
    const limit = slow ? ` (slower than ${slowMs / 1000} s)` : '';
    const message = `${shown} answered HTTP ${answer.status} in ${answer.elapsedMs} ms${limit}`;
    const data = { responseMs: answer.elapsedMs, ...(to?.container ? { via: to.container } : {}) };
    const severity = slow ? ('warning' as const) : ('critical' as const);
    return [{ ...base, severity, value: answer.status, message, failing: !ok || slow, data }];
  } catch (err) {
    return [{ ...base, value: null, message: `${shown}: ${describeError(err)}`, failing: true }];
  }
}

/**
 * The shipper's own health: `ship-state.json` must show a successful upload within maxAgeMs. No file
 * means the shipper has not run here yet (skipped, with a note); no `lastUploadAt` means it never uploaded
 * (raised once that has lasted maxAgeMs).
 */
export async function checkShipping(stateDir: string, maxAgeMs: number, now: Date): Promise<Observation> {
  const limit = formatUptime(maxAgeMs / 1000);
  const base = { check: 'shipping', severity: 'warning' as const, threshold: limit };
  const read = await readLastUpload(stateDir);
  if (read.status === 'missing') {
    const note = `${read.file} not found: mizual-ship-logs has not run here yet`;
    return { ...base, value: null, message: 'log shipping not checked', skipped: true, note };
  }
  if (read.status === 'corrupt')
    return { ...base, value: null, message: `${read.file}: ${read.reason}`, failing: true };
  const at = read.lastUploadAtMs;
  if (at === null) {
    // The shipper has run but never uploaded: give it the same grace as a stale upload before warning.
    const message = 'log shipping has no successful upload recorded';
    return { ...base, value: null, message, failing: true, forMs: maxAgeMs };
  }
  const ageMs = Math.max(0, now.getTime() - at);
  const ago = formatUptime(ageMs / 1000);
  const stamp = new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    ...base,
    value: stamp,
    message: `last successful log upload ${ago} ago at ${stamp} (limit ${limit})`,
    failing: ageMs > maxAgeMs,
  };
}
