/**
 * The checks that need history: each takes the stored trend, this run's reading and the time, and
 * returns observations plus the trend to store. Pure, so a day or a year of runs can be replayed in
 * tests with injected times.
 */
import { defineCheck } from '../check.js';
import type { Observation } from '../state.js';
import type { DiskFigures, NetCounters } from '../../host/index.js';
import type { SeenContainer } from '../../docker/snapshot.js';
import {
  DISK_MIN_SPAN_MS,
  DISK_SAMPLE_SPACING_MS,
  DISK_WINDOW_MS,
  forecastDisk,
  HOUR_MS,
  sumWithin,
  type ContainerTrend,
  type DiskTrend,
  type HostTrend,
  type NetTrend,
  type Trends,
} from '../../core/trends.js';
import { formatBytes, formatUptime, parsePositiveInt, parsePositiveNumber } from '../../core/units.js';
import { parseSize } from '../log.js';

export type { SeenContainer };

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : word.endsWith('s') ? 'es' : 's'}`;
const since = (ms: number): string =>
  ms < 60_000 ? `${Math.round(Math.max(0, ms) / 1000)}s` : formatUptime(ms / 1000);

/** `disk-forecast:<mount>`: WARNING when the last 24 hours' growth fills the filesystem within diskDays. */
export function diskForecastChecks(
  previous: Readonly<Record<string, DiskTrend>>,
  disks: readonly DiskFigures[],
  nowMs: number,
  diskDays: number,
): { observations: Observation[]; disks: Record<string, DiskTrend> } {
  const observations: Observation[] = [];
  const next: Record<string, DiskTrend> = {};
  for (const d of disks) {
    const samples = (previous[d.mount]?.samples ?? []).filter(([at]) => at < nowMs && nowMs - at <= DISK_WINDOW_MS);
    const fc = forecastDisk(samples, d, nowMs);
    const last = samples.at(-1);
    if (!last || nowMs - last[0] >= DISK_SAMPLE_SPACING_MS) samples.push([nowMs, d.usedBytes]);
    next[d.mount] = { samples };
    const base = { check: `disk-forecast:${d.mount}`, severity: 'warning' as const, threshold: diskDays };
    if (!fc.enough) {
      const note = `needs ${since(DISK_MIN_SPAN_MS)} of samples, has ${since(fc.spanMs)}`;
      observations.push({ ...base, value: null, message: `disk ${d.mount} not forecast yet`, skipped: true, note });
      continue;
    }
    const rate = `${fc.bytesPerDay < 0 ? '-' : '+'}${formatBytes(Math.abs(fc.bytesPerDay))}/day`;
    const over = `over the last ${since(fc.spanMs)}`;
    const data = {
      bytesPerDay: Math.round(fc.bytesPerDay),
      fullAt: fc.fullAtMs === null ? null : iso(fc.fullAtMs),
      samples: fc.samples,
    };
    if (fc.daysLeft === null || fc.fullAtMs === null) {
      const message = `disk ${d.mount} not filling (${rate} ${over})`;
      observations.push({ ...base, value: null, message, failing: false, data });
      continue;
    }
    const days = Math.round(fc.daysLeft * 10) / 10;
    const message =
      `disk ${d.mount} grows ${rate} ${over}: ${formatBytes(d.availableBytes)} left, full in ${days} days ` +
      `around ${iso(fc.fullAtMs).slice(0, 16).replace('T', ' ')} UTC (threshold ${diskDays} days)`;
    observations.push({ ...base, value: days, message, failing: fc.daysLeft <= diskDays, data });
  }
  return { observations, disks: next };
}

/**
 * `net-in:<iface>` / `net-out:<iface>`: bytes per rolling hour from the counters between runs. A counter
 * that went backwards, or a new boot, restarted from zero, so its whole value is the interval's traffic;
 * an interval reaching back past the hour counts in proportion to its overlap.
 */
export function netVolumeChecks(
  previous: Readonly<Record<string, NetTrend>>,
  counters: readonly NetCounters[],
  options: { nowMs: number; rebooted: boolean; inBytes: number; outBytes: number },
): { observations: Observation[]; net: Record<string, NetTrend> } {
  const { nowMs } = options;
  const from = nowMs - HOUR_MS;
  const observations: Observation[] = [];
  const next: Record<string, NetTrend> = {};
  for (const c of counters) {
    const p = previous[c.iface];
    const intervals = (p?.intervals ?? []).filter(([, end]) => end > from && end <= nowMs);
    if (p && nowMs > p.at) {
      const delta = (now: number, then: number): number => (options.rebooted || now < then ? now : now - then);
      intervals.push([p.at, nowMs, delta(c.rxBytes, p.rxBytes), delta(c.txBytes, p.txBytes)]);
    }
    next[c.iface] = { rxBytes: c.rxBytes, txBytes: c.txBytes, at: nowMs, intervals };
    let rx = 0;
    let tx = 0;
    let start = nowMs;
    for (const [a, b, r, t] of intervals) {
      const share = (Math.min(b, nowMs) - Math.max(a, from)) / (b - a);
      rx += r * share;
      tx += t * share;
      start = Math.min(start, Math.max(a, from));
    }
    const covered = nowMs - start;
    const span = covered >= HOUR_MS - 60_000 ? 'the last hour' : `the last ${since(covered)}`;
    for (const [dir, bytes, limit, verb] of [
      ['in', rx, options.inBytes, 'received'],
      ['out', tx, options.outBytes, 'sent'],
    ] as const) {
      const base = { check: `net-${dir}:${c.iface}`, severity: 'warning' as const, threshold: limit };
      if (intervals.length === 0) {
        const note = 'measured from the next run on';
        observations.push({ ...base, value: null, message: `${c.iface} not measured yet`, skipped: true, note });
        continue;
      }
      const value = Math.round(bytes);
      const message = `${c.iface} ${verb} ${formatBytes(value)} in ${span} (threshold ${formatBytes(limit)}/hour)`;
      const data = { coveredSeconds: Math.round(covered / 1000) };
      observations.push({ ...base, value, message, failing: value > limit, data });
    }
  }
  return { observations, net: next };
}

/** `oom:host`: WARNING while the kernel's OOM killer has killed any process in the last hour. */
export function hostOomCheck(
  previous: HostTrend,
  reading: { oomKills: number | null; bootId: string | null },
  nowMs: number,
): { observation: Observation; host: HostTrend; killed: number } {
  const base = { check: 'oom:host', severity: 'warning' as const, threshold: 0 };
  if (reading.oomKills === null) {
    const note = 'no oom_kill counter in /proc/vmstat (kernel before 4.13)';
    return {
      observation: { ...base, value: null, message: 'host OOM kills not counted', skipped: true, note },
      host: previous,
      killed: 0,
    };
  }
  const rebooted = previous.bootId !== null && reading.bootId !== null && previous.bootId !== reading.bootId;
  const killed =
    previous.oomKills === null
      ? 0
      : rebooted || reading.oomKills < previous.oomKills
        ? reading.oomKills
        : reading.oomKills - previous.oomKills;
  const ooms = previous.ooms.filter(([at]) => nowMs - at < HOUR_MS && at <= nowMs);
  if (killed > 0) ooms.push([nowMs, killed]);
  const inHour = sumWithin(ooms, nowMs);
  const message =
    killed > 0
      ? `the kernel OOM-killed ${plural(killed, 'process')} since the last run` +
        (inHour > killed ? ` (${inHour} in the last hour)` : '')
      : inHour > 0
        ? `the kernel OOM-killed ${plural(inHour, 'process')} in the last hour, the last at ${iso(ooms.at(-1)?.[0] ?? nowMs)}`
        : 'no OOM kill on the host in the last hour';
  return {
    observation: { ...base, value: inHour, message, failing: inHour > 0, data: { oomKillsTotal: reading.oomKills } },
    host: { bootId: reading.bootId, oomKills: reading.oomKills, ooms },
    killed,
  };
}

/**
 * `oom:<short>` (CRITICAL while a kill was seen in the last hour) and `restarts:<short>` (WARNING at
 * restartsLimit restarts within the hour), from each container's restart count, FinishedAt and
 * OOMKilled against the previous run. Docker 20.10 keeps OOMKilled set after a restart, so only a new
 * exit (FinishedAt moved) with the flag counts; a restart while the host's OOM counter moved counts too.
 */
export function containerEventChecks(
  previous: Readonly<Record<string, ContainerTrend>>,
  seen: readonly SeenContainer[],
  options: { nowMs: number; lastRunMs: number | null; hostKilled: number; restartsLimit: number },
): { observations: Observation[]; containers: Record<string, ContainerTrend> } {
  const { nowMs } = options;
  const observations: Observation[] = [];
  const next: Record<string, ContainerTrend> = {};
  for (const { spec, details: d } of seen) {
    const p = previous[spec.name];
    const restarts = (p?.restarts ?? []).filter(([at]) => nowMs - at < HOUR_MS && at <= nowMs);
    const ooms = (p?.ooms ?? []).filter((at) => nowMs - at < HOUR_MS && at <= nowMs);
    let why: string | null = null;
    if (d) {
      const created = d.createdAt ? Date.parse(d.createdAt) : NaN;
      // A container replaced since the last run (watchtower, compose up) or created since: all its history is new.
      const fresh = (p !== undefined && p.id !== d.id) || (options.lastRunMs !== null && created > options.lastRunMs);
      let rose = 0;
      let exited = false;
      if (p && !fresh) {
        rose = d.restartCount >= p.restartCount ? d.restartCount - p.restartCount : d.restartCount;
        exited = d.finishedAt !== null && d.finishedAt !== p.finishedAt;
      } else if (fresh) {
        rose = d.restartCount;
        exited = d.finishedAt !== null;
      } else {
        // First sight with nothing to compare: an exit within the hour still counts.
        exited = d.finishedAt !== null && nowMs - Date.parse(d.finishedAt) < HOUR_MS;
      }
      if (rose > 0) restarts.push([nowMs, rose]);
      const limit = d.memoryLimitBytes > 0 ? `memory limit ${formatBytes(d.memoryLimitBytes)}` : 'no memory limit';
      if (exited && d.oomKilled) {
        const at = d.finishedAt ? ` at ${d.finishedAt.replace(/\.\d+Z$/, 'Z')}` : '';
        const then = d.state === 'running' ? `, restarted by Docker (${plural(d.restartCount, 'restart')})` : '';
        why = `container ${spec.name} was OOM-killed${at} (${limit})${then}`;
      } else if (rose > 0 && options.hostKilled > 0) {
        why =
          `container ${spec.name} restarted ${plural(rose, 'time')} since the last run while the kernel ` +
          `OOM-killed ${plural(options.hostKilled, 'process')} (${limit})`;
      }
      if (why) ooms.push(nowMs);
      next[spec.name] = { id: d.id, restartCount: d.restartCount, finishedAt: d.finishedAt, restarts, ooms };
    } else if (p) {
      next[spec.name] = { ...p, restarts, ooms };
    } else {
      continue;
    }
    const kills = ooms.length;
    const oomMessage =
      why !== null
        ? why + (kills > 1 ? ` (${kills} OOM kills in the last hour)` : '')
        : kills > 0
          ? `container ${spec.name}: ${plural(kills, 'OOM kill')} in the last hour, the last seen at ${iso(ooms.at(-1) ?? nowMs)}`
          : `container ${spec.name}: no OOM kill in the last hour`;
    observations.push({
      check: `oom:${spec.short}`,
      severity: 'critical',
      value: kills,
      threshold: 0,
      message: oomMessage,
      failing: kills > 0,
      data: { oomKilled: d?.oomKilled ?? null, memoryLimitBytes: d?.memoryLimitBytes ?? null },
    });
    const count = sumWithin(restarts, nowMs);
    const exit = d && d.state === 'running' ? '' : d ? `, now ${d.state} (exit code ${d.exitCode})` : ', now missing';
    observations.push({
      check: `restarts:${spec.short}`,
      severity: 'warning',
      value: count,
      threshold: options.restartsLimit,
      message: `container ${spec.name} restarted ${plural(count, 'time')} in the last hour${exit} (threshold ${options.restartsLimit})`,
      failing: count >= options.restartsLimit,
      data: { restartCount: d?.restartCount ?? null },
    });
  }
  return { observations, containers: next };
}

/**
 * The checks that need history, in one run: `disk-forecast:<mount>`, `oom:host`, `oom:<short>` and
 * `restarts:<short>` (a container's restart counted as an OOM kill when the host's counter moved),
 * `net-in:<iface>` and `net-out:<iface>`.
 */
export const trendsCheck = defineCheck({
  name: 'trends',
  group: 'Host checks:',
  flags: {
    restarts: {
      flag: '--restarts <count>',
      help: 'restarts of a container within an hour',
      default: '3',
      parse: parsePositiveInt,
    },
    diskDays: {
      flag: '--disk-days <days>',
      more: true,
      help: 'a filesystem full within this many days',
      default: '7',
      parse: parsePositiveNumber,
    },
    netInBytes: {
      flag: '--net-in <size>',
      help: 'received by an interface per rolling hour',
      default: '1G',
      parse: parseSize,
    },
    netOutBytes: {
      flag: '--net-out <size>',
      help: 'sent by an interface per rolling hour',
      default: '5G',
      parse: parseSize,
    },
  },
  run: async (context, limits) => {
    const nowMs = context.now.getTime();
    const prev = context.trends;
    const [filesystems, oomKills, bootId, network, snapshot] = await Promise.all([
      context.host.filesystems().catch(() => null),
      context.host.oomKills().catch(() => null),
      context.host.bootId(),
      context.host.net(),
      context.snapshot,
    ]);
    const observations: Observation[] = [];
    const trends: Partial<Trends> = {};
    if (filesystems) {
      const forecast = diskForecastChecks(prev.disks, filesystems.disks, nowMs, limits.diskDays);
      observations.push(...forecast.observations);
      trends.disks = forecast.disks;
    }
    const hostOom = hostOomCheck(prev.host, { oomKills, bootId }, nowMs);
    observations.push(hostOom.observation);
    trends.host = hostOom.host;
    if (snapshot && !('error' in snapshot)) {
      const events = containerEventChecks(prev.containers, snapshot.watched, {
        nowMs,
        lastRunMs: context.lastRunMs,
        hostKilled: hostOom.killed,
        restartsLimit: limits.restarts,
      });
      observations.push(...events.observations);
      trends.containers = events.containers;
    } else if (snapshot) {
      // Engine unreachable: the event checks are unknown and their history is kept as it was.
      for (const spec of context.config.containers) {
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
        inBytes: limits.netInBytes,
        outBytes: limits.netOutBytes,
      });
      observations.push(...net.observations);
      trends.net = net.net;
    }
    return { observations, trends };
  },
});
