/**
 * A small Docker Engine API client over node:http: container list, inspect, stats, logs and exec.
 * It never spawns the docker CLI (about 2 s for `docker stats`, and the CLI splits stdout/stderr
 * so their true order is lost).
 */
import http from 'node:http';
import os from 'node:os';
import { access, readFile } from 'node:fs/promises';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { MizualError, UsageError, describeError } from '../core/errors.js';
import { parseNanoTime, toDockerBound } from '../core/time.js';

const DEFAULT_SOCKET = '/var/run/docker.sock';
const DEFAULT_TIMEOUT_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Endpoint
// ---------------------------------------------------------------------------------------------

export type DockerEndpoint =
  | { kind: 'unix'; socketPath: string; display: string }
  | { kind: 'tcp'; host: string; port: number; basePath: string; display: string };

/** Parse DOCKER_HOST the way the docker CLI reads it (unix:// and plain tcp:// only). */
export function parseDockerHost(value?: string, tlsVerify?: string): DockerEndpoint {
  const raw = (value ?? '').trim();
  if (raw === '') return { kind: 'unix', socketPath: DEFAULT_SOCKET, display: `unix://${DEFAULT_SOCKET}` };
  const match = /^([a-z]+):\/\/(.*)$/i.exec(raw);
  if (!match) throw new UsageError(`DOCKER_HOST must look like unix:///path or tcp://host:port, got "${raw}"`);
  const scheme = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  if (scheme === 'unix') {
    const socketPath = rest === '' ? DEFAULT_SOCKET : rest;
    if (!socketPath.startsWith('/'))
      throw new UsageError(`DOCKER_HOST unix socket path must be absolute, got "${raw}"`);
    return { kind: 'unix', socketPath, display: `unix://${socketPath}` };
  }
  if (scheme === 'tcp' || scheme === 'http') {
    // TLS needs client certificates from DOCKER_CERT_PATH; this tool talks to a local engine, so say so plainly.
    if (tlsVerify !== undefined && tlsVerify !== '' && tlsVerify !== '0') {
      throw new UsageError(
        'DOCKER_TLS_VERIFY is set, but TLS to the Docker engine is not supported; use a unix socket or plain tcp://',
      );
    }
    let url: URL;
    try {
      url = new URL(`http://${rest}`);
    } catch {
      throw new UsageError(`DOCKER_HOST is not a valid tcp address: "${raw}"`);
    }
    if (url.hostname === '') throw new UsageError(`DOCKER_HOST has no host: "${raw}"`);
    const port = url.port === '' ? 2375 : Number(url.port);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const basePath = url.pathname.replace(/\/+$/, '');
    return { kind: 'tcp', host, port, basePath, display: `tcp://${url.host}${basePath}` };
  }
  if (scheme === 'https')
    throw new UsageError('DOCKER_HOST https:// is not supported; use a unix socket or plain tcp://');
  throw new UsageError(`DOCKER_HOST scheme "${scheme}://" is not supported; use unix:// or tcp://`);
}

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

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
}

export interface LogFrame {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

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

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** The RFC 3339 timestamp Docker recorded. */
  timestamp: string | null;
  text: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ContainerStats {
  id: string;
  /** 100 = one full core, like `docker stats`; null when the container had no two samples. */
  cpuPercent: number | null;
  /** Usage minus inactive file cache, like `docker stats`; null when unknown. */
  memoryBytes: number | null;
}

interface CpuReading {
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

/** Docker's CPU % formula: container CPU time over system CPU time, scaled so 100 = one core. */
export function computeCpuPercent(
  before: { cpuNs: number; systemNs: number },
  after: { cpuNs: number; systemNs: number; onlineCpus: number },
): number | null {
  const cpuDelta = after.cpuNs - before.cpuNs;
  const systemDelta = after.systemNs - before.systemNs;
  if (!(systemDelta > 0) || cpuDelta < 0) return null;
  return (cpuDelta / systemDelta) * after.onlineCpus * 100;
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
    const cpuPercent = then && then.source === now.source ? computeCpuPercent(then, now) : null;
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

/**
 * Split Docker's multiplexed stream (8-byte header: stream type, 3 zero bytes, big-endian length)
 * into frames. Chunks may cut headers and payloads anywhere; frames come out whole and in order.
 */
export class LogDemuxer extends Transform {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** The header of the frame being collected, once its 8 bytes have arrived. */
  private header: { type: number; size: number } | null = null;

  constructor() {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    try {
      this.drainFrames();
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.buffered > 0 || this.header !== null) {
      callback(new MizualError(`Docker log stream ended inside a frame (${this.buffered} bytes left over)`));
      return;
    }
    callback();
  }

  private drainFrames(): void {
    for (;;) {
      if (this.header === null) {
        if (this.buffered < 8) return;
        const header = this.consume(8);
        this.header = { type: header[0] ?? -1, size: header.readUInt32BE(4) };
      }
      const { type, size } = this.header;
      if (this.buffered < size) return;
      this.header = null;
      const data = this.consume(size);
      if (type === 0 || type === 1) this.push({ stream: 'stdout', data } satisfies LogFrame);
      else if (type === 2) this.push({ stream: 'stderr', data } satisfies LogFrame);
      else if (type === 3) throw new MizualError(`Docker engine error in log stream: ${data.toString('utf8').trim()}`);
      else throw new MizualError(`malformed Docker log stream (frame type ${String(type)})`);
    }
  }

  /** Consume n bytes; copies only when a frame spans chunks (a 1 MB frame in 64 KiB chunks is joined once). */
  private consume(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first && first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first && first.length === n) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const need = n - filled;
      if (chunk.length <= need) {
        chunk.copy(out, filled);
        filled += chunk.length;
        this.chunks.shift();
      } else {
        chunk.copy(out, filled, 0, need);
        this.chunks[0] = chunk.subarray(need);
        filled += need;
      }
    }
    return out;
  }
}

/** Wrap a TTY container's raw log stream so it yields the same frames as the demuxer. */
function rawToFrames(): Transform {
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, { stream: 'stdout', data: chunk } satisfies LogFrame);
    },
  });
}

const TIMESTAMP_PREFIX = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}) /;

/** Split frames into lines; a frame without a trailing newline is joined to the next of its stream. */
export function framesToLines(frames: Iterable<LogFrame>, timestamps: boolean): LogLine[] {
  const lines: LogLine[] = [];
  const partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  for (const frame of frames) {
    let text = frame.data.toString('utf8');
    // Docker splits messages over 16 KiB into several frames, each with its own timestamp: keep the first.
    if (timestamps && partial[frame.stream] !== '') text = text.replace(TIMESTAMP_PREFIX, '');
    const parts = (partial[frame.stream] + text).split('\n');
    partial[frame.stream] = parts.pop() ?? '';
    for (const part of parts) lines.push(splitTimestamp(frame.stream, part.replace(/\r$/, ''), timestamps));
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    if (partial[stream] !== '') lines.push(splitTimestamp(stream, partial[stream], timestamps));
  }
  return lines;
}

function splitTimestamp(stream: 'stdout' | 'stderr', line: string, timestamps: boolean): LogLine {
  if (!timestamps) return { stream, timestamp: null, text: line };
  const match = TIMESTAMP_PREFIX.exec(line);
  if (!match) return { stream, timestamp: null, text: line };
  return { stream, timestamp: match[0].slice(0, -1), text: line.slice(match[0].length) };
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

  /** Open a request; resolves with the response once headers arrive (any status). */
  private open(path: string, options: RequestOptions): Promise<{ res: http.IncomingMessage; req: http.ClientRequest }> {
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

  /**
   * List containers (running only unless all). Paths are unversioned on purpose: the engine then
   * speaks its own current version, which works from Docker 20.10 (1.41) to engines whose minimum
   * version is above anything we could pin.
   */
  async listContainers(options: { all?: boolean } = {}): Promise<ContainerSummary[]> {
    const list = await this.requestJson<RawListEntry[]>('/containers/json', { query: { all: options.all ?? false } });
    return (list ?? []).map(toSummary);
  }

  /** Inspect one container by name or id. Missing → DockerApiError with statusCode 404. */
  async inspectContainer(nameOrId: string): Promise<ContainerDetails> {
    const raw = await this.requestJson<RawInspect>(`/containers/${encodeURIComponent(nameOrId)}/json`);
    return toDetails(raw);
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

  /** The last n log lines of a container, both streams in order, with Docker's timestamps. */
  async tailLines(nameOrId: string, n: number): Promise<LogLine[]> {
    const stream = await this.containerLogs(nameOrId, { tail: n, timestamps: true });
    const frames: LogFrame[] = [];
    for await (const frame of stream) frames.push(frame as LogFrame);
    return framesToLines(frames, true).slice(-n);
  }

  /** Run a command in a running container and collect its output (e.g. `redis-cli INFO memory`). */
  async execInContainer(nameOrId: string, cmd: string[], options: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const started = Date.now();
    const created = await this.requestJson<{ Id: string }>(`/containers/${encodeURIComponent(nameOrId)}/exec`, {
      method: 'POST',
      body: { AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false, Cmd: cmd },
      timeoutMs,
    });
    const execId = created.Id;
    const { res, req } = await this.open(`/exec/${execId}/start`, {
      method: 'POST',
      body: { Detach: false, Tty: false },
      timeoutMs,
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

function cpuCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

// ---------------------------------------------------------------------------------------------
// cgroup files
// ---------------------------------------------------------------------------------------------

type CgroupLayout = { version: 1; cpuDirs: string[]; memoryDirs: string[] } | { version: 2; dirs: string[] };

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Find where this host keeps per-container cgroups: v1 (cgroupfs or systemd driver) or v2. */
async function detectCgroupLayout(root: string): Promise<CgroupLayout | null> {
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

async function readCgroupReading(layout: CgroupLayout, id: string, onlineCpus: number): Promise<CpuReading | null> {
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

// ---------------------------------------------------------------------------------------------
// Raw engine shapes (only the fields we read)
// ---------------------------------------------------------------------------------------------

interface RawListEntry {
  Id: string;
  Names?: string[];
  Image?: string;
  State?: string;
  Status?: string;
  Labels?: Record<string, string> | null;
  Health?: { Status?: string };
}

interface RawInspect {
  Id: string;
  Name?: string;
  Created?: string;
  RestartCount?: number;
  Config?: { Image?: string; Tty?: boolean };
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

interface RawStats {
  cpu_stats?: {
    cpu_usage?: { total_usage?: number; percpu_usage?: number[] };
    system_cpu_usage?: number;
    online_cpus?: number;
  };
  memory_stats?: { usage?: number; stats?: Record<string, number> };
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
  };
}
