import type { ReachedHost } from '../docker/compose-hosts.js';
import type { AppReport } from '../app/model.js';
import type { ContainerSpec } from '../core/config.js';
import type { DbReport } from '../db/model.js';
import { describeError } from '../core/errors.js';
import { isVirtualInterface, readHostFigures, type HostFigures, type NetRates } from '../host/index.js';
import type { Thresholds } from '../core/thresholds.js';
import { forecastDisk, type Trends } from '../core/trends.js';
import { RECLAIM_COMMAND, type Reclaimable } from '../docker/disk-usage.js';
import type { CostFigures } from './cost.js';

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
  /** Restarts within the last hour, from mizual-alerts' state (null when it does not track this container). */
  restartsLastHour: number | null;
  /** Named in MIZUAL_CONTAINERS. */
  configured: boolean;
  /** Its short name there (the `container:<short>` alert check), null when not configured. */
  short: string | null;
  /** When it was created (deployed), started and last exited: Docker's RFC 3339 times, null when never. */
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Seconds since it started, for a running container. */
  uptimeSeconds: number | null;
  /** Exit code and seconds since the exit, for a container that is not running. */
  exitCode: number | null;
  exitedSecondsAgo: number | null;
  oomKilled: boolean | null;
  /** Its json-file log files, all generations (null when not json-file or not readable here). */
  logBytes: number | null;
  logFiles: number | null;
  /** Whether max-size (or the local driver) caps its logs. */
  logRotation: boolean | null;
  /** Its memory limit (`deploy.resources.limits.memory`, `--memory`) in bytes; null when unlimited or unknown. */
  memoryLimitBytes?: number | null;
}

export interface DiskTrendFigures {
  mount: string;
  /** Least-squares growth of used bytes per day over the alert state's last 24 h, null without 6 h of samples. */
  growthBytesPerDay: number | null;
  /** When it fills at that rate (ISO), null when not growing or not known. */
  fullAt: string | null;
}

export interface BackendErrors {
  container: string;
  lines: string[];
  /** Error lines within the last 5 and 60 minutes, counted over the log's last `scannedLines` lines. */
  last5m: number;
  last60m: number;
  scannedLines: number;
  /** True when those lines reach back less than 60 minutes, so the counts are a lower bound. */
  partial: boolean;
}

export interface MetricsReport extends HostFigures {
  host: string;
  time: string;
  docker: {
    available: boolean;
    reason: string | null;
    /** What `docker system df` calls RECLAIMABLE, in bytes (null when the engine did not say). */
    reclaimable?: Reclaimable | null;
    /** The one command that reclaims it. */
    reclaimCommand?: string;
  };
  containers: ContainerFigures[];
  redis: { container: string; usedMemoryHuman: string; usedMemoryBytes: number | null } | null;
  backendErrors: BackendErrors | null;
  /** mizual-ship-logs' hold of log files not shipped yet (null: none, or the engine is remote). */
  hold: { dir: string; containers: number; bytes: number; onlyHeldBytes: number } | null;
  /** Growth and forecast per filesystem from mizual-alerts' state ([] when it has none). */
  diskTrends: DiskTrendFigures[];
  thresholds: Thresholds;
  sampleIntervalMs: number;
  /** The application figures (contract's `app`): from the logs, the probes and the broker. */
  app?: AppReport | null;
  /** The database figures, present only when a database URL is configured. */
  db?: DbReport;
  /** Memory right-sizing, our own footprint and the logs' cost (cost.ts). */
  memoryFit?: CostFigures['memoryFit'];
  hostMemoryFit?: CostFigures['hostMemoryFit'];
  self?: CostFigures['self'];
  shipCost?: CostFigures['shipCost'];
  /** How the containers shown were chosen: MIZUAL_CONTAINERS, or discovered (and the defaults not found). */
  watch?: { source: 'MIZUAL_CONTAINERS' | 'discovered'; defaultsNotFound: string[] };
  /** The URL hosts (Compose names) reached through a container. */
  reachedThrough?: ReachedHost[];
}

/** What the report needs from Docker; `docker-metrics.ts` implements it over the Engine API. */
export interface ContainerSource {
  collect(containers: ContainerSpec[], intervalMs: number, trends: Trends | null): Promise<ContainerPart>;
}

export type ContainerPart = Pick<MetricsReport, 'containers' | 'redis' | 'backendErrors' | 'hold'> & {
  reclaimable?: Reclaimable | null;
};

export interface CollectOptions {
  host: string;
  procRoot?: string;
  intervalMs: number;
  thresholds: Thresholds;
  containers: ContainerSpec[];
  /** null with --no-docker. */
  docker: ContainerSource | null;
  /** What mizual-alerts stored (null when it has not run here). */
  trends: Trends | null;
  /** Show every interface, virtual and idle ones included. */
  allInterfaces?: boolean;
  sysRoot?: string;
  /** The host figures when their sampling was started earlier (so the rest overlaps its interval). */
  hostFigures?: Promise<HostFigures>;
}

/** Gather host and container figures; Docker trouble empties the container section and says why. */
export async function collectMetrics(options: CollectOptions): Promise<MetricsReport> {
  const dockerPart = options.docker
    ? options.docker.collect(options.containers, options.intervalMs, options.trends).then(
        (part) => ({ part, reason: null }),
        (err: unknown) => ({ part: null, reason: describeError(err) }),
      )
    : Promise.resolve({ part: null, reason: 'skipped (--no-docker)' });
  const [host, docker] = await Promise.all([
    options.hostFigures ??
      readHostFigures({ procRoot: options.procRoot, intervalMs: options.intervalMs, keepVeth: options.allInterfaces }),
    dockerPart,
  ]);
  const now = Date.now();
  return {
    host: options.host,
    time: new Date(now).toISOString(),
    ...host,
    network: options.allInterfaces ? host.network : await shownInterfaces(host.network, options.sysRoot),
    diskTrends: host.disks.map((d) => {
      const samples = options.trends?.disks[d.mount]?.samples;
      const fc = samples ? forecastDisk(samples, d, now) : null;
      if (!fc?.enough) return { mount: d.mount, growthBytesPerDay: null, fullAt: null };
      const fullAt = fc.fullAtMs === null ? null : new Date(fc.fullAtMs).toISOString();
      return { mount: d.mount, growthBytesPerDay: Math.round(fc.bytesPerDay), fullAt };
    }),
    docker: {
      available: docker.part !== null,
      reason: docker.reason,
      ...(docker.part?.reclaimable !== undefined
        ? { reclaimable: docker.part.reclaimable, reclaimCommand: RECLAIM_COMMAND }
        : {}),
    },
    containers: docker.part?.containers ?? [],
    redis: docker.part?.redis ?? null,
    backendErrors: docker.part?.backendErrors ?? null,
    hold: docker.part?.hold ?? null,
    thresholds: options.thresholds,
    sampleIntervalMs: options.intervalMs,
  };
}

/** Physical interfaces always; virtual ones (docker0, br-*) only while they carry traffic; ifb* and veth* never. */
async function shownInterfaces(network: NetRates[], sysRoot?: string): Promise<NetRates[]> {
  const virtual = await Promise.all(network.map((n) => isVirtualInterface(n.iface, sysRoot)));
  return network.filter((n, i) => {
    if (!virtual[i]) return true;
    if (/^(ifb|veth)/.test(n.iface)) return false;
    return n.rxBytesPerSec > 0 || n.txBytesPerSec > 0;
  });
}
