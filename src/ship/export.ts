/**
 * Export one container's logs for a window into a spool file: the raw bytes are counted (lines,
 * bytes, sha256) and gzip-compressed into their own gzip member while they stream in, so the
 * archive can later be assembled without holding any log in memory (archive-write.ts).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGzip, type Gzip } from 'node:zlib';
import type { DockerClient } from '../docker/client.js';
import { MizualError } from '../core/errors.js';
import { toDockerBound } from '../core/time.js';

/** Batch size before compression: a million tiny zlib writes run at 5 MiB/s (MEASURED.md). */
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
    this.gzip.pipe(out);
    this.done = new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        this.failure ??= err;
        reject(err);
      };
      this.gzip.on('error', fail);
      out.on('error', fail);
      out.on('finish', resolve);
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

  /** End the entry (appending a newline if the last line is open) and wait until the spool is on disk. */
  async finish(): Promise<SpooledEntry> {
    if (this.lastByte !== -1 && this.lastByte !== NEWLINE) await this.write(Buffer.from('\n'));
    await this.flushBatch();
    await Promise.race([this.inflight, this.done]);
    this.gzip.end();
    await this.done;
    return { path: this.path, lines: this.lines, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Stop and delete the spool file (after a failure). */
  async discard(): Promise<void> {
    this.gzip.destroy();
    await this.done.catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

export interface ExportRequest {
  /** Container id (or name). */
  container: string;
  tty: boolean;
  /** Inclusive bounds in nanoseconds since the epoch. */
  since: bigint;
  until: bigint;
  spoolPath: string;
}

/** Length of Docker's fixed-width timestamp prefix `2026-11-25T09:43:48.040200185Z `. */
const STAMP = 31;

/**
 * Turns Docker's multiplexed log stream (8-byte header: stream type, 3 zero bytes, big-endian size)
 * into the bytes `docker logs --timestamps` prints, one output buffer per input chunk: no object per
 * line, which at millions of lines would cost more time and memory than the copying itself.
 * A frame without a trailing newline leaves its line open; the next frame continues it only if it is
 * of the same stream with the same timestamp (Docker's 16 KiB parts of one long line); otherwise a
 * newline closes it first.
 */
export class FrameCopier {
  private readonly header = Buffer.alloc(8);
  private headerFill = 0;
  /** Payload bytes left in the current frame; -1 between frames. */
  private remaining = -1;
  private stream = 0;
  private errorText: Buffer[] | null = null;
  /** The first STAMP bytes of the current frame, held back while deciding whether it continues a line. */
  private readonly stamp = Buffer.alloc(STAMP);
  private stampFill = 0;
  private holding = false;
  private lastByte = NEWLINE;
  private open: { stream: number; stamp: Buffer } | null = null;
  private scratch = Buffer.alloc(0);

  /** The output for one chunk of the raw stream, valid until the next call (the buffer is reused). */
  transform(chunk: Buffer): Buffer {
    // Output never exceeds the input plus a held-back timestamp and two newlines.
    if (this.scratch.length < chunk.length + 2 * STAMP + 2)
      this.scratch = Buffer.allocUnsafe(chunk.length + 2 * STAMP + 2);
    const out = this.scratch;
    let o = 0;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.remaining === -1) {
        const take = Math.min(8 - this.headerFill, chunk.length - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + take);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < 8) break;
        this.headerFill = 0;
        const size = this.header.readUInt32BE(4);
        this.startFrame(this.header[0] as number, size);
        if (this.stream !== 3 && this.open && this.open.stream !== this.stream) {
          out[o++] = NEWLINE;
          this.open = null;
        }
        this.holding = this.open !== null;
        if (size === 0) o = this.endFrame(out, o);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - pos);
      const piece = chunk.subarray(pos, pos + take);
      pos += take;
      this.remaining -= take;
      if (this.errorText) {
        this.errorText.push(Buffer.from(piece));
      } else {
        const stampTake = Math.min(STAMP - this.stampFill, take);
        if (stampTake > 0) piece.copy(this.stamp, this.stampFill, 0, stampTake);
        this.stampFill += stampTake;
        if (this.holding) {
          if (this.stampFill === STAMP || this.remaining === 0) o = this.release(out, o);
          if (!this.holding) o += piece.copy(out, o, stampTake);
        } else {
          o += piece.copy(out, o);
        }
        if (take > 0) this.lastByte = piece[take - 1] as number;
      }
      if (this.remaining === 0) o = this.endFrame(out, o);
    }
    return out.subarray(0, o);
  }

  /** Throw if the stream stopped inside a frame. */
  end(): void {
    if (this.headerFill > 0 || this.remaining > 0) {
      throw new MizualError('Docker log stream ended inside a frame');
    }
  }

  private startFrame(type: number, size: number): void {
    if (type > 3) throw new MizualError(`malformed Docker log stream (frame type ${type})`);
    this.stream = type === 0 ? 1 : type;
    this.remaining = size;
    this.stampFill = 0;
    this.errorText = type === 3 ? [] : null;
  }

  /** Decide, with the held-back start of a frame, whether it continues the open line; write it out. */
  private release(out: Buffer, o: number): number {
    const same = this.open !== null && this.stampFill === STAMP && this.stamp.equals(this.open.stamp);
    if (!same) out[o++] = NEWLINE;
    this.open = null;
    this.holding = false;
    return o + this.stamp.copy(out, o, 0, this.stampFill);
  }

  private endFrame(out: Buffer, o: number): number {
    this.remaining = -1;
    if (this.errorText) {
      throw new MizualError(
        `Docker engine error in log stream: ${Buffer.concat(this.errorText).toString('utf8').trim()}`,
      );
    }
    if (this.holding) o = this.release(out, o);
    if (this.lastByte !== NEWLINE && this.stampFill > 0) {
      this.open = { stream: this.stream, stamp: Buffer.from(this.stamp) };
    }
    return o;
  }
}

/**
 * Export a container's stdout and stderr, in the engine's order and with its timestamps, exactly as
 * `docker logs --timestamps` prints them, into a spool. A message Docker split at 16 KiB arrives as
 * several frames of one stream sharing one timestamp and is kept as Docker returns it (one line).
 */
export async function exportContainerLogs(docker: DockerClient, request: ExportRequest): Promise<SpooledEntry> {
  const spool = new EntrySpool(request.spoolPath);
  try {
    const stream: Readable = await docker.containerLogs(request.container, {
      since: toDockerBound(request.since),
      until: toDockerBound(request.until),
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
    return await spool.finish();
  } catch (err) {
    await spool.discard();
    throw err;
  }
}
