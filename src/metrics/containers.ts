import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerSpec } from '../core/config.js';
import { computeContainerStats } from '../docker/stats.js';
import { createDockerClient, type DockerClient } from '../docker/client.js';
import { type ContainerDetails } from '../docker/model.js';
import type { ContainerFigures, ContainerSource, MetricsReport } from './report.js';

const ERROR_LINE = /\b(error|exception|traceback|critical|fatal)\b/i;
const BACKEND_TAIL = 300;
const BACKEND_ERRORS = 5;

/** Container figures for the dashboard from the Docker Engine API (and cgroup files when local). */
export function createDockerSource(host?: string): ContainerSource {
  return {
    async collect(containers, intervalMs) {
      const client = createDockerClient({ host, timeoutMs: 5_000 });
      try {
        return await collectContainers(client, containers, intervalMs);
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
): Promise<Pick<MetricsReport, 'containers' | 'redis' | 'backendErrors'>> {
  const list = await client.listContainers({ all: true });
  const running = list.filter((c) => c.state === 'running').map((c) => c.id);
  // CPU needs two samples; everything else is fetched while the interval elapses.
  const stats = (async () => {
    const before = await client.sampleContainerCpu(running);
    await sleep(intervalMs);
    return computeContainerStats(before, await client.sampleContainerCpu(running));
  })();
  const details = Promise.all(list.map((c) => client.inspectContainer(c.id).catch(() => null)));
  const redisContainer = list.find((c) => c.state === 'running' && /redis/i.test(`${c.name} ${c.image}`));
  const backend = configured.find((c) => c.short === 'backend');
  const backendPresent = backend !== undefined && list.some((c) => c.name === backend.name);
  const [statList, detailList, redis, backendErrors] = await Promise.all([
    stats,
    details,
    redisContainer ? readRedisMemory(client, redisContainer.name) : Promise.resolve(null),
    backend && backendPresent ? readErrorLines(client, backend.name) : Promise.resolve(null),
  ]);
  const byId = new Map(statList.map((s) => [s.id, s]));
  const detailById = new Map(detailList.filter((d): d is ContainerDetails => d !== null).map((d) => [d.id, d]));
  const shortByName = new Map(configured.map((c) => [c.name, c.short]));
  const figures: ContainerFigures[] = list.map((c) => {
    const s = byId.get(c.id);
    const d = detailById.get(c.id);
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
      configured: true,
      short: spec.short,
    });
  }
  figures.sort((a, b) => Number(b.configured) - Number(a.configured) || a.name.localeCompare(b.name));
  return { containers: figures, redis, backendErrors };
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

async function readErrorLines(client: DockerClient, name: string): Promise<MetricsReport['backendErrors']> {
  try {
    const lines = await client.tailLines(name, BACKEND_TAIL);
    const errors = lines.filter((l) => ERROR_LINE.test(l.text)).slice(-BACKEND_ERRORS);
    return { container: name, lines: errors.map((l) => `${l.timestamp ?? ''} ${l.text}`.trim().slice(0, 300)) };
  } catch {
    return null;
  }
}
