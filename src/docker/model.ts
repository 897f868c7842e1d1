/** The containers as this project sees them, mapped from the Engine API's list and inspect answers. */

export type ContainerState =
  'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | 'unknown';
export type ContainerHealth = 'starting' | 'healthy' | 'unhealthy' | 'none';

export interface ContainerSummary {
  name: string;
  id: string;
  image: string;
  state: ContainerState;
  /** Docker's human status text, e.g. "Up 3 hours (healthy)". */
  status: string;
  health: ContainerHealth;
  labels: Record<string, string>;
  /** Ports published on the host (`docker run -p`), from the list entry. */
  ports?: PublishedPort[];
  /** Its address on each network it is attached to, from the list entry. */
  networks?: NetworkAddress[];
}

export interface PublishedPort {
  /** The port inside the container. */
  privatePort: number;
  /** The host port, absent when the port is only exposed. */
  publicPort?: number;
  /** The host address it is bound to (`0.0.0.0`, `127.0.0.1`, `::`). */
  ip?: string;
  type: string;
}

export interface NetworkAddress {
  network: string;
  /** IPv4 address on that network ('' when none, e.g. `host` or `none`). */
  ip: string;
}

export interface ContainerDetails {
  id: string;
  name: string;
  image: string;
  state: ContainerState;
  health: ContainerHealth;
  restartCount: number;
  exitCode: number;
  oomKilled: boolean;
  /** ISO timestamps as Docker records them (nanoseconds kept); null when never set. */
  startedAt: string | null;
  finishedAt: string | null;
  createdAt: string | null;
  pid: number;
  tty: boolean;
  /** The json-file driver's log file (`<data-root>/containers/<id>/<id>-json.log`); null for other drivers. */
  logPath: string | null;
  /** `HostConfig.LogConfig.Type`: `json-file`, `local`, `journald`, ... */
  logDriver: string;
  /** `HostConfig.LogConfig.Config`: `max-size`, `max-file`, `compress`, ... */
  logOptions: Record<string, string>;
  /** `HostConfig.Memory`: the `--memory` limit in bytes, 0 when unlimited. */
  memoryLimitBytes: number;
  /** The process the container runs: `Path` then `Args` (how its log lines are formatted, say). */
  command?: string[];
  /** `HostConfig.RestartPolicy.Name`: `always`, `unless-stopped`, `on-failure`, or `no` (also for ''). */
  restartPolicy?: string;
  /** `Config.Labels` (Compose's project and service among them). */
  labels?: Record<string, string>;
}

const KNOWN_STATES = new Set(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']);

/** Map Docker's state string onto ours; anything new becomes 'unknown' instead of leaking through. */
export function mapState(raw: unknown): ContainerState {
  const value = typeof raw === 'string' ? raw.toLowerCase() : '';
  return KNOWN_STATES.has(value) ? (value as ContainerState) : 'unknown';
}

/** Map a health status ("healthy", "health: starting", ...) onto ours. */
export function mapHealth(raw: unknown): ContainerHealth {
  const value = typeof raw === 'string' ? raw.toLowerCase().trim() : '';
  if (value === 'healthy' || value === 'unhealthy' || value === 'starting') return value;
  if (value === 'health: starting') return 'starting';
  return 'none';
}

/** Read the health from a list entry's status text: "Up 5 minutes (unhealthy)". */
export function healthFromStatus(status: string): ContainerHealth {
  const match = /\((healthy|unhealthy|health: starting)\)\s*$/i.exec(status);
  return match ? mapHealth(match[1]) : 'none';
}

/** Docker writes "0001-01-01T00:00:00Z" for a time that never happened. */
function normalizeTime(value: unknown): string | null {
  if (typeof value !== 'string' || value === '' || value.startsWith('0001-01-01')) return null;
  return value;
}

export interface RawListEntry {
  Id: string;
  Names?: string[];
  Image?: string;
  State?: string;
  Status?: string;
  Labels?: Record<string, string> | null;
  Health?: { Status?: string };
  Ports?: { IP?: string; PrivatePort?: number; PublicPort?: number; Type?: string }[] | null;
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string } | null> | null };
}

export interface RawInspect {
  Id: string;
  Path?: string;
  Args?: string[];
  Name?: string;
  Created?: string;
  RestartCount?: number;
  Config?: { Image?: string; Tty?: boolean; Labels?: Record<string, string> | null };
  LogPath?: string;
  HostConfig?: {
    LogConfig?: { Type?: string; Config?: Record<string, string> | null };
    Memory?: number;
    RestartPolicy?: { Name?: string; MaximumRetryCount?: number };
  };
  NetworkSettings?: {
    Networks?: Record<string, { IPAddress?: string; Aliases?: string[] | null } | null> | null;
    Ports?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
  };
  State?: {
    Status?: string;
    Pid?: number;
    ExitCode?: number;
    OOMKilled?: boolean;
    StartedAt?: string;
    FinishedAt?: string;
    Health?: { Status?: string };
  };
}

/** Map a raw /containers/json entry (exported for tests). */
export function toSummary(raw: RawListEntry): ContainerSummary {
  const status = raw.Status ?? '';
  return {
    name: (raw.Names?.[0] ?? raw.Id.slice(0, 12)).replace(/^\//, ''),
    id: raw.Id,
    image: raw.Image ?? '',
    state: mapState(raw.State),
    status,
    // Newer engines put Health in the list entry; 20.10 only says it in the status text.
    health: raw.Health?.Status ? mapHealth(raw.Health.Status) : healthFromStatus(status),
    labels: raw.Labels ?? {},
    ports: (raw.Ports ?? []).flatMap((p) =>
      typeof p.PrivatePort === 'number'
        ? [{ privatePort: p.PrivatePort, publicPort: p.PublicPort, ip: p.IP, type: p.Type ?? 'tcp' }]
        : [],
    ),
    networks: Object.entries(raw.NetworkSettings?.Networks ?? {}).map(([network, n]) => ({
      network,
      ip: n?.IPAddress ?? '',
    })),
  };
}

/** Map a raw /containers/{id}/json document (exported for tests). */
export function toDetails(raw: RawInspect): ContainerDetails {
  return {
    id: raw.Id,
    name: (raw.Name ?? '').replace(/^\//, ''),
    image: raw.Config?.Image ?? '',
    state: mapState(raw.State?.Status),
    health: mapHealth(raw.State?.Health?.Status),
    restartCount: raw.RestartCount ?? 0,
    exitCode: raw.State?.ExitCode ?? 0,
    oomKilled: raw.State?.OOMKilled ?? false,
    startedAt: normalizeTime(raw.State?.StartedAt),
    finishedAt: normalizeTime(raw.State?.FinishedAt),
    createdAt: normalizeTime(raw.Created),
    pid: raw.State?.Pid ?? 0,
    tty: raw.Config?.Tty ?? false,
    logPath: raw.LogPath ? raw.LogPath : null,
    logDriver: raw.HostConfig?.LogConfig?.Type ?? '',
    logOptions: { ...(raw.HostConfig?.LogConfig?.Config ?? {}) },
    memoryLimitBytes: raw.HostConfig?.Memory ?? 0,
    command: [...(raw.Path ? [raw.Path] : []), ...(raw.Args ?? [])],
    restartPolicy: raw.HostConfig?.RestartPolicy?.Name || 'no',
    labels: { ...(raw.Config?.Labels ?? {}) },
  };
}
