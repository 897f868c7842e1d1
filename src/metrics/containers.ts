import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerSpec } from '../core/config.js';
import { computeContainerStats } from '../docker/stats.js';
import { createDockerClient, type DockerClient } from '../docker/client.js';
import { FrameLines, type LogFrame, type LogLine } from '../docker/frames.js';
import { listGenerations, logRotationConfigured } from '../docker/log-files.js';
import { type ContainerDetails } from '../docker/model.js';
import { sumWithin, type Trends } from '../core/trends.js';
import { holdSize, resolveHoldDir } from '../docker/held-logs.js';
import { readReclaimable } from '../docker/disk-usage.js';
import type { BackendErrors, ContainerFigures, ContainerPart, ContainerSource, MetricsReport } from './report.js';

const ERROR_LINE = /\b(error|exception|traceback|critical|fatal)\b/i;
/** Lines of the backend's log scanned for errors: Docker reads a tail from the end, cheap on a big log. */
const BACKEND_TAIL = 5_000;
const BACKEND_ERRORS = 5;

/** Container figures for the dashboard from the Docker Engine API (and cgroup files when local). */
export function createDockerSource(host?: string, holdDir?: string): ContainerSource {
  return {
    async collect(containers, intervalMs, trends) {
      const client = createDockerClient({ host, timeoutMs: 5_000 });
      try {
        const [part, hold, reclaimable] = await Promise.all([
          collectContainers(client, containers, intervalMs, trends),
          readHold(client, holdDir),
          readReclaimable(client).catch(() => null),
        ]);
        return { ...part, hold, reclaimable };
      } finally {
        client.close();
      }
    },
  };
}

async function collectContainers(
  client: DockerClient,
  configured: ContainerSpec[],
  intervalMs: number,
  trends: Trends | null,
): Promise<Omit<ContainerPart, 'hold'>> {
  const list = await client.listContainers({ all: true });
  const running = list.filter((c) => c.state === 'running').map((c) => c.id);
  // CPU needs two samples; everything else is fetched while the interval elapses.
  const stats = (async () => {
    const before = await client.sampleContainerCpu(running);
    await sleep(intervalMs);
    return computeContainerStats(before, await client.sampleContainerCpu(running));
  })();
  const details = Promise.all(list.map((c) => client.inspectContainer(c.id).catch(() => null)));
  const logSizes = details.then((all) => Promise.all(all.map((d) => readLogSize(d))));
  const redisContainer = list.find((c) => c.state === 'running' && /redis/i.test(`${c.name} ${c.image}`));
  const backend = configured.find((c) => c.short === 'backend');
  const backendPresent = backend !== undefined && list.some((c) => c.name === backend.name);
  const [statList, detailList, sizes, redis, backendErrors] = await Promise.all([
    stats,
    details,
    logSizes,
    redisContainer ? readRedisMemory(client, redisContainer.name) : Promise.resolve(null),
    backend && backendPresent ? readErrorLines(client, backend.name) : Promise.resolve(null),
  ]);
  const byId = new Map(statList.map((s) => [s.id, s]));
  const detailById = new Map(detailList.filter((d): d is ContainerDetails => d !== null).map((d) => [d.id, d]));
  const shortByName = new Map(configured.map((c) => [c.name, c.short]));
  const sizeById = new Map(detailList.map((d, i) => [d?.id, sizes[i]]));
  const nowMs = Date.now();
  const secondsSince = (iso: string | null | undefined): number | null =>
    iso ? Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000)) : null;
  const figures: ContainerFigures[] = list.map((c) => {
    const s = byId.get(c.id);
    const d = detailById.get(c.id);
    const running = (d?.state ?? c.state) === 'running';
    const tracked = trends?.containers[c.name];
    const size = sizeById.get(c.id) ?? null;
    return {
      name: c.name,
      id: c.id.slice(0, 12),
      image: c.image,
      state: d?.state ?? c.state,
      health: d?.health ?? c.health,
      cpuPercent: s?.cpuPercent ?? null,
      memoryBytes: s?.memoryBytes ?? null,
      restarts: d?.restartCount ?? null,
      configured: shortByName.has(c.name),
      short: shortByName.get(c.name) ?? null,
      restartsLastHour: tracked && tracked.id === c.id ? sumWithin(tracked.restarts, nowMs) : null,
      createdAt: d?.createdAt ?? null,
      startedAt: d?.startedAt ?? null,
      finishedAt: d?.finishedAt ?? null,
      uptimeSeconds: running ? secondsSince(d?.startedAt) : null,
      exitCode: d && !running ? d.exitCode : null,
      exitedSecondsAgo: running ? null : secondsSince(d?.finishedAt),
      oomKilled: d?.oomKilled ?? null,
      logBytes: size?.bytes ?? null,
      logFiles: size?.files ?? null,
      logRotation: d ? logRotationConfigured(d.logDriver, d.logOptions) : null,
      memoryLimitBytes: d && d.memoryLimitBytes > 0 ? d.memoryLimitBytes : null,
    };
  });
  for (const spec of configured) {
    if (list.some((c) => c.name === spec.name)) continue;
    figures.push({
      name: spec.name,
      id: null,
      image: null,
      state: 'missing',
      health: 'none',
      cpuPercent: null,
      memoryBytes: null,
      restarts: null,
      restartsLastHour: null,
      configured: true,
      short: spec.short,
      createdAt: null,
      startedAt: null,
      finishedAt: null,
      uptimeSeconds: null,
      exitCode: null,
      exitedSecondsAgo: null,
      oomKilled: null,
      logBytes: null,
      logFiles: null,
      logRotation: null,
    });
  }
  figures.sort((a, b) => Number(b.configured) - Number(a.configured) || a.name.localeCompare(b.name));
  return { containers: figures, redis, backendErrors };
}

/** The shipper's hold of unshipped log files (local engine only), or null when there is none. */
async function readHold(client: DockerClient, holdDir: string | undefined): Promise<MetricsReport['hold']> {
  if (!client.local) return null;
  try {
    const dir = await resolveHoldDir({ holdDir }, client);
    const size = await holdSize(dir);
    return size.containers === 0 ? null : { dir, ...size };
  } catch {
    return null;
  }
}

async function readRedisMemory(client: DockerClient, name: string): Promise<MetricsReport['redis']> {
  try {
    const result = await client.execInContainer(name, ['redis-cli', 'INFO', 'memory'], { timeoutMs: 3_000 });
    if (result.exitCode !== 0) return null;
    const human = /^used_memory_human:(\S+)/m.exec(result.stdout)?.[1];
    const bytes = /^used_memory:(\d+)/m.exec(result.stdout)?.[1];
    if (human === undefined) return null;
    return { container: name, usedMemoryHuman: human, usedMemoryBytes: bytes === undefined ? null : Number(bytes) };
  } catch {
    // A redis image without redis-cli, or an exec that timed out, just leaves the line out.
    return null;
  }
}

/** The json-file log's size over all generations; null when another driver or not readable here. */
async function readLogSize(d: ContainerDetails | null): Promise<{ bytes: number; files: number } | null> {
  if (!d?.logPath || d.logDriver !== 'json-file') return null;
  const files = await listGenerations(d.logPath).catch(() => []);
  if (files.length === 0) return null;
  return { bytes: files.reduce((sum, f) => sum + f.size, 0), files: files.length };
}

/** The last error lines of the backend and how many fell in the last 5 and 60 minutes, streamed from its log tail. */
async function readErrorLines(client: DockerClient, name: string): Promise<BackendErrors | null> {
  try {
    const stream = await client.containerLogs(name, { tail: BACKEND_TAIL, timestamps: true });
    const nowMs = Date.now();
    const errors: string[] = [];
    let scanned = 0;
    let oldestMs = Infinity;
    let last5m = 0;
    let last60m = 0;
    // One splitter across frames: a line Docker cut into several frames stays one line.
    const split = new FrameLines(true);
    const lines = async function* (): AsyncGenerator<LogLine> {
      for await (const frame of stream) yield* split.push(frame as LogFrame);
      yield* split.end();
    };
    for await (const line of lines()) {
      scanned++;
      const at = line.timestamp ? Date.parse(line.timestamp) : NaN;
      if (at < oldestMs) oldestMs = at;
      if (!ERROR_LINE.test(line.text)) continue;
      if (nowMs - at <= 3_600_000) last60m++;
      if (nowMs - at <= 300_000) last5m++;
      errors.push(`${line.timestamp ?? ''} ${line.text}`.trim().slice(0, 300));
      if (errors.length > BACKEND_ERRORS) errors.shift();
    }
    const partial = scanned >= BACKEND_TAIL && nowMs - oldestMs < 3_600_000;
    return { container: name, lines: errors, last5m, last60m, scannedLines: scanned, partial };
  } catch {
    return null;
  }
}
