/**
 * Export one container's logs for a window into a spool file: the raw bytes are counted (lines,
 * bytes, sha256) and gzip-compressed into their own gzip member while they stream in, so the
 * archive can later be assembled without holding any log in memory (archive-write.ts).
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGzip, type Gzip } from 'node:zlib';
import { type DockerClient } from '../docker/client.js';
import { FrameCopier } from '../docker/frames.js';
import { toDockerBound } from '../core/time.js';

/**
 * Batch size before compression: writing each log line into zlib on its own ran at 5.4 MiB/s here
 * (a million tiny writes), batching at about 50 MiB/s; `node bench/ship-logs.mjs` measures the export.
 */
const BATCH_BYTES = 256 * 1024;
const NEWLINE = 0x0a;

/** A finished spool: the entry's raw size and checksum, and where its gzip member is. */
export interface SpooledEntry {
  /** File holding one gzip member of the entry's bytes. */
  path: string;
  lines: number;
  bytes: number;
  sha256: string;
}

/**
 * Writes an entry's bytes into a 0600 gzip spool file, counting and hashing them on the way. Bytes
 * are copied into two alternating 256 KiB buffers, so a long export allocates nothing per write and
 * leaves no garbage for the collector to fall behind on (memory must not grow with log volume).
 */
export class EntrySpool {
  readonly path: string;
  private readonly gzip: Gzip;
  private readonly out: WriteStream;
  private readonly done: Promise<void>;
  private readonly hash = createHash('sha256');
  private readonly buffers = [Buffer.allocUnsafe(BATCH_BYTES), Buffer.allocUnsafe(BATCH_BYTES)];
  private current = 0;
  private filled = 0;
  /** The previous batch handed to zlib; its buffer is reused once zlib has consumed it. */
  private inflight: Promise<void> = Promise.resolve();
  private lines = 0;
  private bytes = 0;
  private failure: Error | undefined;
  /** The last byte written so far (to know whether a line is still open), or -1. */
  private lastByte = -1;

  constructor(path: string, level = 6) {
    this.path = path;
    this.gzip = createGzip({ level });
    const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    this.out = out;
    this.gzip.pipe(out);
    this.done = new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        this.failure ??= err;
        reject(err);
      };
      this.gzip.on('error', fail);
      out.on('error', fail);
      out.on('finish', resolve);
      // Destroyed before it finished (discard): without this, `done` would never settle and a run
      // whose export failed would wait on it until the event loop ran dry (exit 13, lock left behind).
      out.on('close', () => {
        if (!out.writableFinished) fail(new Error(`spool ${path} closed before it was finished`));
      });
    });
    // A write error surfaces from write() or finish(); this keeps it from being reported as unhandled first.
    this.done.catch(() => undefined);
  }

  /** Add bytes (copied: the caller may reuse its buffer); resolves when it is fine to write more. */
  async write(data: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (data.length === 0) return;
    this.hash.update(data);
    this.bytes += data.length;
    for (let i = data.indexOf(NEWLINE); i !== -1; i = data.indexOf(NEWLINE, i + 1)) this.lines++;
    this.lastByte = data[data.length - 1] as number;
    let offset = 0;
    while (offset < data.length) {
      const copied = data.copy(this.buffers[this.current] as Buffer, this.filled, offset);
      this.filled += copied;
      offset += copied;
      if (this.filled === BATCH_BYTES) await this.flushBatch();
    }
  }

  private async flushBatch(): Promise<void> {
    if (this.filled === 0) return;
    await Promise.race([this.inflight, this.done]);
    if (this.failure) throw this.failure;
    const chunk = (this.buffers[this.current] as Buffer).subarray(0, this.filled);
    const written = new Promise<void>((resolve, reject) => {
      this.gzip.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
    written.catch(() => undefined);
    this.inflight = written;
    this.current = 1 - this.current;
    this.filled = 0;
  }

  /** Lines so far (newlines written). */
  get lineCount(): number {
    return this.lines;
  }

  /** Close an open last line with a newline (between two sources of one entry, and at its end). */
  async closeLine(): Promise<void> {
    if (this.lastByte !== -1 && this.lastByte !== NEWLINE) await this.write(Buffer.from('\n'));
  }

  /** End the entry (appending a newline if the last line is open) and wait until the spool is on disk. */
  async finish(): Promise<SpooledEntry> {
    await this.closeLine();
    await this.flushBatch();
    await Promise.race([this.inflight, this.done]);
    this.gzip.end();
    await this.done;
    return { path: this.path, lines: this.lines, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Stop and delete the spool file (after a failure). */
  async discard(): Promise<void> {
    this.gzip.unpipe(this.out);
    this.gzip.destroy();
    this.out.destroy();
    await this.done.catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

export interface ExportRequest {
  /** Container id (or name). */
  container: string;
  tty: boolean;
  /** Inclusive bounds in nanoseconds since the epoch; no `until` means to the end of the log. */
  since: bigint;
  until: bigint | null;
}

/**
 * Export a container's stdout and stderr through the Engine API, in the engine's order and with its
 * timestamps, exactly as `docker logs --timestamps` prints them, into a spool. A message Docker split
 * at 16 KiB arrives as several frames of one stream sharing one timestamp and is kept as Docker
 * returns it (one line). The file source (file-source.ts) writes the same bytes.
 */
export async function exportContainerLogs(
  docker: DockerClient,
  request: ExportRequest,
  spool: EntrySpool,
): Promise<void> {
  const stream: Readable = await docker.containerLogs(request.container, {
    since: toDockerBound(request.since),
    until: request.until === null ? undefined : toDockerBound(request.until),
    timestamps: true,
    tty: request.tty,
    raw: true,
  });
  // A TTY container's stream is not multiplexed: its bytes are the log.
  const copier = request.tty ? null : new FrameCopier();
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    await spool.write(copier ? copier.transform(chunk) : chunk);
  }
  copier?.end();
}
