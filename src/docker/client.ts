/**
 * A small Docker Engine API client over node:http: container list, inspect, stats, logs and exec.
 * It never spawns the docker CLI (about 2 s for `docker stats`, and the CLI splits stdout/stderr
 * so their true order is lost).
 */
import http from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { MizualError, UsageError, describeError } from '../core/errors.js';
import { parseNanoTime, toDockerBound } from '../core/time.js';
import { parseDockerHost, type DockerEndpoint } from './endpoint.js';
import { LogDemuxer, rawToFrames, type LogFrame } from './frames.js';
import {
  toDetails,
  toSummary,
  type ContainerDetails,
  type ContainerSummary,
  type RawInspect,
  type RawListEntry,
} from './model.js';
import {
  apiReading,
  computeContainerStats,
  cpuCount,
  detectCgroupLayout,
  readCgroupReading,
  type CgroupLayout,
  type ContainerCpuSample,
  type ContainerStats,
  type CpuReading,
  type RawStats,
} from './stats.js';

export type { LogFrame } from './frames.js';

const DEFAULT_TIMEOUT_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export interface LogOptions {
  /** Last N lines (Docker's `tail`). */
  tail?: number;
  /** Inclusive bounds: a Date, seconds since the epoch, or an RFC 3339 string (nanoseconds kept). */
  since?: Date | number | string;
  until?: Date | number | string;
  timestamps?: boolean;
  /** Skip the inspect call when the caller already knows whether the container has a TTY. */
  tty?: boolean;
  /**
   * How long the stream may stay silent (default 60 s): with `since`, dockerd reads the json log file
   * from its start before the first line comes, so the per-request default would be far too short.
   */
  idleTimeoutMs?: number;
  /**
   * Return the response bytes as they come (still multiplexed unless the container has a TTY), for
   * exporters that copy millions of lines without a frame object per line.
   */
  raw?: boolean;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface DockerClientOptions {
  /** DOCKER_HOST value; defaults to process.env.DOCKER_HOST. */
  host?: string;
  /** DOCKER_TLS_VERIFY value; defaults to process.env.DOCKER_TLS_VERIFY. */
  tlsVerify?: string;
  /** Per-request timeout (streams: idle timeout). */
  timeoutMs?: number;
  /** Where cgroup files live (tests point this at a fixture tree). */
  cgroupRoot?: string;
}

/** A non-2xx answer from the engine; statusCode 404 means no such container. */
export class DockerApiError extends MizualError {
  readonly statusCode: number;
  constructor(message: string, statusCode: number) {
    super(message);
    this.name = 'DockerApiError';
    this.statusCode = statusCode;
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (unit-tested)
// ---------------------------------------------------------------------------------------------

/** Convert a time bound to Docker's "seconds.nanoseconds" form without losing nanoseconds. */
export function toDockerTimestamp(value: Date | number | string): string {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new UsageError('invalid date for Docker log bound');
    const seconds = Math.floor(ms / 1000);
    return `${seconds}.${String((ms - seconds * 1000) * 1_000_000).padStart(9, '0')}`;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new UsageError('invalid time for Docker log bound');
    const seconds = Math.floor(value);
    const nanos = Math.round((value - seconds) * 1e9);
    return `${seconds}.${String(Math.min(nanos, 999_999_999)).padStart(9, '0')}`;
  }
  if (/^\d+(\.\d{1,9})?$/.test(value)) return value;
  try {
    return toDockerBound(parseNanoTime(value));
  } catch {
    throw new UsageError(`invalid timestamp for Docker log bound: "${value}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP transport
// ---------------------------------------------------------------------------------------------

interface RequestOptions {
  method?: 'GET' | 'POST' | 'HEAD';
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  timeoutMs?: number;
}

function buildQuery(query: RequestOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    params.set(key, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/** The Docker Engine API client. Create with createDockerClient(). */
export class DockerClient {
  readonly endpoint: DockerEndpoint;
  readonly timeoutMs: number;
  private readonly cgroupRoot: string;
  private readonly agent: http.Agent;
  private cgroupLayout: Promise<CgroupLayout | null> | undefined;
  /** Set once a request went unanswered: a hung engine is not asked again (each try would wait as long). */
  private silence: MizualError | undefined;

  constructor(options: DockerClientOptions = {}) {
    this.endpoint = parseDockerHost(
      options.host ?? process.env['DOCKER_HOST'],
      options.tlsVerify ?? process.env['DOCKER_TLS_VERIFY'],
    );
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
    // Keep-alive lets parallel stats calls reuse connections; sockets are unref'd so they never hold the process open.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  /** Close pooled connections (not required before exit). */
  close(): void {
    this.agent.destroy();
  }

  private unreachable(err: unknown): MizualError {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code ? `${e.syscall ?? 'connect'} ${e.code}` : describeError(err);
    const hint = e.code === 'EACCES' ? ' (permission denied: run as root or join the docker group)' : '';
    return new MizualError(`Docker engine not reachable at ${this.endpoint.display}: ${reason}${hint}`, 1, {
      cause: err,
    });
  }

  /** The error of the request the engine left unanswered, if one did: nothing more is asked of it. */
  get unanswered(): MizualError | undefined {
    return this.silence;
  }

  /** Open a request; resolves with the response once headers arrive (any status). */
  private open(path: string, options: RequestOptions): Promise<{ res: http.IncomingMessage; req: http.ClientRequest }> {
    if (this.silence) return Promise.reject(this.silence);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const fullPath = (this.endpoint.kind === 'tcp' ? this.endpoint.basePath : '') + path + buildQuery(options.query);
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: http.OutgoingHttpHeaders = { Host: 'docker' };
    if (body) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = body.length;
    }
    const target =
      this.endpoint.kind === 'unix'
        ? { socketPath: this.endpoint.socketPath }
        : { host: this.endpoint.host, port: this.endpoint.port };
    return new Promise((resolve, reject) => {
      const req = http.request({
        ...target,
        path: fullPath,
        method: options.method ?? 'GET',
        headers,
        agent: this.agent,
      });
      let settled = false;
      req.setTimeout(timeoutMs, () => {
        const err = new MizualError(
          `Docker engine at ${this.endpoint.display} did not answer ${path} within ${timeoutMs} ms`,
        );
        // Silent before any answer: the engine is hung, not slow to stream a log.
        if (!settled) this.silence ??= err;
        req.destroy(err);
      });
      req.on('error', (err) => {
        if (settled) return;
        settled = true;
        reject(err instanceof MizualError ? err : this.unreachable(err));
      });
      req.on('response', (res) => {
        settled = true;
        resolve({ res, req });
      });
      req.end(body);
    });
  }

  /** Read a whole response; non-2xx becomes a DockerApiError with the engine's message. */
  private async requestBuffer(path: string, options: RequestOptions = {}): Promise<{ status: number; body: Buffer }> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const { res, req } = await this.open(path, options);
    // The idle timeout covers a stalled socket; this caps the whole body so a trickling answer cannot hang a cron run.
    const timer = setTimeout(() => {
      req.destroy(
        new MizualError(`Docker engine at ${this.endpoint.display} did not finish ${path} within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    try {
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve, reject) => {
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', resolve);
        res.on('error', reject);
        req.on('error', reject);
        res.on('aborted', () =>
          reject(new MizualError(`Docker engine at ${this.endpoint.display} closed the connection during ${path}`)),
        );
      });
      const body = Buffer.concat(chunks);
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) throw this.apiError(status, body);
      return { status, body };
    } catch (err) {
      if (err instanceof MizualError) throw err;
      throw this.unreachable(err);
    } finally {
      clearTimeout(timer);
    }
  }

  private apiError(status: number, body: Buffer): DockerApiError {
    let message = body.toString('utf8').trim();
    try {
      const parsed = JSON.parse(message) as { message?: unknown };
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      // Plain-text error body: use it as is.
    }
    return new DockerApiError(`Docker engine: ${oneLineText(message || `HTTP ${status}`)}`, status);
  }

  private async requestJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const { body } = await this.requestBuffer(path, options);
    if (body.length === 0) return undefined as T;
    try {
      return JSON.parse(body.toString('utf8')) as T;
    } catch {
      throw new MizualError(`Docker engine sent invalid JSON for ${path}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // API
  // -------------------------------------------------------------------------------------------

  /** Check the engine answers; resolves with its API version. */
  async ping(): Promise<{ apiVersion: string | null }> {
    const { res, req } = await this.open('/_ping', { timeoutMs: this.timeoutMs });
    res.resume();
    await new Promise<void>((resolve, reject) => {
      res.on('end', resolve);
      res.on('error', reject);
      req.on('error', reject);
    }).catch((err: unknown) => {
      throw err instanceof MizualError ? err : this.unreachable(err);
    });
    if ((res.statusCode ?? 0) !== 200)
      throw new DockerApiError(
        `Docker engine at ${this.endpoint.display} answered ping with HTTP ${String(res.statusCode)}`,
        res.statusCode ?? 0,
      );
    const version = res.headers['api-version'];
    return { apiVersion: typeof version === 'string' ? version : null };
  }

  /** Where the engine keeps its data (`DockerRootDir`: containers and their json-file logs live below it). */
  async dataRoot(): Promise<string> {
    const info = await this.requestJson<{ DockerRootDir?: string }>('/info');
    if (!info?.DockerRootDir)
      throw new MizualError(`Docker engine at ${this.endpoint.display} did not say its data root`);
    return info.DockerRootDir;
  }

  /** True when the engine runs on this machine (a unix socket), so its log files are ours to read. */
  get local(): boolean {
    return this.endpoint.kind === 'unix';
  }

  /**
   * List containers (running only unless all). Paths are unversioned on purpose: the engine then
   * speaks its own current version, which works from Docker 20.10 (1.41) to engines whose minimum
   * version is above anything we could pin.
   */
  async listContainers(options: { all?: boolean } = {}): Promise<ContainerSummary[]> {
    return (await this.listContainersRaw(options)).map(toSummary);
  }

  /** The engine's own list entries (labels, ports, every name), for who needs more than a summary. */
  async listContainersRaw(options: { all?: boolean } = {}): Promise<RawListEntry[]> {
    const list = await this.requestJson<RawListEntry[]>('/containers/json', { query: { all: options.all ?? false } });
    return list ?? [];
  }

  /** Inspect one container by name or id. Missing → DockerApiError with statusCode 404. */
  async inspectContainer(nameOrId: string): Promise<ContainerDetails> {
    return toDetails(await this.inspectContainerRaw(nameOrId));
  }

  /** The engine's own inspect document (restart policy, networks, ports). Missing → DockerApiError 404. */
  async inspectContainerRaw(nameOrId: string): Promise<RawInspect> {
    return this.requestJson<RawInspect>(`/containers/${encodeURIComponent(nameOrId)}/json`);
  }

  /** Stream a container's logs as demultiplexed frames in the engine's (true) order. */
  async containerLogs(nameOrId: string, options: LogOptions = {}): Promise<Readable> {
    const tty = options.tty ?? (await this.inspectContainer(nameOrId)).tty;
    const { res, req } = await this.open(`/containers/${encodeURIComponent(nameOrId)}/logs`, {
      timeoutMs: options.idleTimeoutMs ?? Math.max(this.timeoutMs, 60_000),
      query: {
        stdout: true,
        stderr: true,
        timestamps: options.timestamps ?? false,
        tail: options.tail === undefined ? undefined : Math.max(0, Math.floor(options.tail)),
        since: options.since === undefined ? undefined : toDockerTimestamp(options.since),
        until: options.until === undefined ? undefined : toDockerTimestamp(options.until),
      },
    });
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw this.apiError(status, Buffer.concat(chunks));
    }
    const frames = options.raw ? new PassThrough() : tty ? rawToFrames() : new LogDemuxer();
    const forwardError = (err: unknown) => frames.destroy(err instanceof MizualError ? err : this.unreachable(err));
    req.on('error', forwardError);
    res.on('error', forwardError);
    res.on('aborted', () =>
      frames.destroy(new MizualError(`Docker engine at ${this.endpoint.display} closed the log stream early`)),
    );
    // A consumer that stops reading must not leave the engine streaming into a dead socket.
    frames.on('close', () => req.destroy());
    res.pipe(frames);
    return frames;
  }

  /** Run a command in a running container and collect its output (e.g. `redis-cli INFO memory`). */
  async execInContainer(
    nameOrId: string,
    cmd: string[],
    options: { timeoutMs?: number; env?: string[] } = {},
  ): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const started = Date.now();
    const created = await this.requestJson<{ Id: string }>(`/containers/${encodeURIComponent(nameOrId)}/exec`, {
      method: 'POST',
      // `env` (KEY=value) carries secrets such as REDISCLI_AUTH: never put them in cmd, which `docker top` shows.
      body: { AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false, Cmd: cmd, Env: options.env },
      timeoutMs,
    });
    const execId = created.Id;
    const { res, req } = await this.open(`/exec/${execId}/start`, {
      method: 'POST',
      body: { Detach: false, Tty: false },
      // The whole command's deadline below decides; a socket idle timeout of the same length would
      // race it (and win on some Node versions) with a less telling message.
      timeoutMs: timeoutMs + 1_000,
    });
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw this.apiError(status, Buffer.concat(chunks));
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const demux = new LogDemuxer();
    const timer = setTimeout(
      () => {
        req.destroy(
          new MizualError(`command in container ${nameOrId} did not finish within ${timeoutMs} ms: ${cmd.join(' ')}`),
        );
      },
      Math.max(1, timeoutMs - (Date.now() - started)),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        demux.on('data', (frame: LogFrame) => (frame.stream === 'stdout' ? out : err).push(frame.data));
        demux.on('end', resolve);
        demux.on('error', reject);
        res.on('error', reject);
        req.on('error', reject);
        res.pipe(demux);
      });
    } catch (e) {
      if (e instanceof MizualError) throw e;
      throw this.unreachable(e);
    } finally {
      clearTimeout(timer);
    }
    // The stream ends when the process closes its output; its exit code can lag a moment behind.
    let exitCode: number | null = null;
    for (let attempt = 0; attempt < 20; attempt++) {
      const info = await this.requestJson<{ Running: boolean; ExitCode: number | null }>(`/exec/${execId}/json`, {
        timeoutMs,
      });
      if (!info.Running && info.ExitCode !== null) {
        exitCode = info.ExitCode;
        break;
      }
      if (Date.now() - started > timeoutMs) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    if (exitCode === null)
      throw new MizualError(`command in container ${nameOrId} did not report an exit code: ${cmd.join(' ')}`);
    return { exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }

  /**
   * Read CPU time and memory of the given running containers now. Local engines are read from cgroup
   * files (no API round trip, well under a millisecond each); anything not found there is asked of the
   * engine with one-shot stats, in parallel. Take two samples and pass them to computeContainerStats.
   */
  async sampleContainerCpu(ids: string[]): Promise<ContainerCpuSample> {
    const readings = new Map<string, CpuReading>();
    const missing: string[] = [];
    const layout = this.endpoint.kind === 'unix' ? await this.detectCgroupLayout() : null;
    if (layout) {
      const onlineCpus = cpuCount();
      await Promise.all(
        ids.map(async (id) => {
          const reading = await readCgroupReading(layout, id, onlineCpus);
          if (reading) readings.set(id, reading);
          else missing.push(id);
        }),
      );
    } else {
      missing.push(...ids);
    }
    await Promise.all(
      missing.map(async (id) => {
        try {
          readings.set(id, await this.readApiReading(id));
        } catch (err) {
          // A container that vanished between list and sample just has no figures; anything else is real.
          if (!(err instanceof DockerApiError && err.statusCode === 404)) throw err;
        }
      }),
    );
    return { takenAtMs: Date.now(), readings };
  }

  /** CPU % and memory of the given containers over intervalMs (default 500 ms). */
  async containerStats(ids: string[], options: { intervalMs?: number } = {}): Promise<ContainerStats[]> {
    const before = await this.sampleContainerCpu(ids);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
    const after = await this.sampleContainerCpu(ids);
    return computeContainerStats(before, after);
  }

  private async readApiReading(id: string): Promise<CpuReading> {
    const raw = await this.requestJson<RawStats>(`/containers/${encodeURIComponent(id)}/stats`, {
      query: { stream: false, 'one-shot': true },
    });
    return apiReading(raw);
  }

  private detectCgroupLayout(): Promise<CgroupLayout | null> {
    this.cgroupLayout ??= detectCgroupLayout(this.cgroupRoot);
    return this.cgroupLayout;
  }
}

/** Create a client for DOCKER_HOST (or the given host); throws UsageError for a malformed address. */
export function createDockerClient(options: DockerClientOptions = {}): DockerClient {
  return new DockerClient(options);
}

function oneLineText(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
