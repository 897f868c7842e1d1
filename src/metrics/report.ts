import type { ContainerSpec } from '../core/config.js';
import { describeError } from '../core/errors.js';
import { readHostFigures, type HostFigures } from '../host/host.js';
import type { Thresholds } from '../core/thresholds.js';

export interface ContainerFigures {
  name: string;
  id: string | null;
  image: string | null;
  /** running, exited, restarting, paused, dead, created, or `missing` for a configured container that does not exist. */
  state: string;
  /** healthy, unhealthy, starting, or none when the container has no health check. */
  health: string;
  cpuPercent: number | null;
  memoryBytes: number | null;
  restarts: number | null;
  /** Named in MIZUAL_CONTAINERS. */
  configured: boolean;
  /** Its short name there (the `container:<short>` alert check), null when not configured. */
  short: string | null;
}

export interface MetricsReport extends HostFigures {
  host: string;
  time: string;
  docker: { available: boolean; reason: string | null };
  containers: ContainerFigures[];
  redis: { container: string; usedMemoryHuman: string; usedMemoryBytes: number | null } | null;
  backendErrors: { container: string; lines: string[] } | null;
  thresholds: Thresholds;
  sampleIntervalMs: number;
}

/** What the report needs from Docker; `docker-metrics.ts` implements it over the Engine API. */
export interface ContainerSource {
  collect(
    containers: ContainerSpec[],
    intervalMs: number,
  ): Promise<Pick<MetricsReport, 'containers' | 'redis' | 'backendErrors'>>;
}

export interface CollectOptions {
  host: string;
  procRoot?: string;
  intervalMs: number;
  thresholds: Thresholds;
  containers: ContainerSpec[];
  /** null with --no-docker. */
  docker: ContainerSource | null;
}

/** Gather host and container figures; Docker trouble empties the container section and says why. */
export async function collectMetrics(options: CollectOptions): Promise<MetricsReport> {
  const dockerPart = options.docker
    ? options.docker.collect(options.containers, options.intervalMs).then(
        (part) => ({ part, reason: null }),
        (err: unknown) => ({ part: null, reason: describeError(err) }),
      )
    : Promise.resolve({ part: null, reason: 'skipped (--no-docker)' });
  const [host, docker] = await Promise.all([
    readHostFigures({ procRoot: options.procRoot, intervalMs: options.intervalMs }),
    dockerPart,
  ]);
  return {
    host: options.host,
    time: new Date().toISOString(),
    ...host,
    docker: { available: docker.part !== null, reason: docker.reason },
    containers: docker.part?.containers ?? [],
    redis: docker.part?.redis ?? null,
    backendErrors: docker.part?.backendErrors ?? null,
    thresholds: options.thresholds,
    sampleIntervalMs: options.intervalMs,
  };
}
