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
import type { ShapeCounter } from './shapes.js';

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

  /** `shapes` counts the entry's lines by shape as they pass (container entries). */
  constructor(
    path: string,
    level = 6,
    private readonly shapes?: ShapeCounter,
  ) {
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
    if (this.shapes) {
      // The shape counter finds every newline anyway: its count is the entry's.
      const before = this.shapes.totalLines;
      this.shapes.write(data);
      this.lines += this.shapes.totalLines - before;
    } else {
      for (let i = data.indexOf(NEWLINE); i !== -1; i = data.indexOf(NEWLINE, i + 1)) this.lines++;
    }
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
  /** The last line an earlier export shipped: it and every line before it are dropped. */
  after?: LineMark | null;
}

/** A line of the API's `--timestamps` stream, told apart from others without keeping it. */
export interface LineMark {
  /** Its timestamp (the first 30 bytes). */
  stamp: string;
  /** Its length in bytes, newline excluded. */
  length: number;
  /** FNV-1a (32 bits, hex) of its first HEAD_BYTES bytes. */
  hash: string;
}

const HEAD_BYTES = 256;
const STAMP_CHARS = 30;

/**
 * Where an API export stopped, by the lines themselves rather than by time: the Engine API returns a
 * log in the order it was written, so the lines after the last one shipped are the new ones, whatever
 * their timestamps say (a clock stepped back repeats an interval of times). Drops every line up to and
 * including `after`, passes the rest on, and marks the last line it passed.
 */
export class LineResume {
  /** The earlier export's last line was seen (always, without one). */
  found: boolean;
  /** The last line passed on, or null. */
  last: LineMark | null = null;
  private keeping: boolean;
  private readonly head = Buffer.alloc(HEAD_BYTES);
  private headBytes = 0;
  private length = 0;

  constructor(private readonly after: LineMark | null) {
    this.found = after === null;
    this.keeping = this.found;
  }

  /** The parts of `chunk` to keep (views into it). */
  filter(chunk: Buffer): Buffer[] {
    let start = 0;
    // Line by line only until the earlier export's last line has come.
    while (!this.keeping && start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      this.take(chunk, start, end);
      start = nl === -1 ? end : nl + 1;
      if (nl !== -1) this.endLine();
    }
    if (start >= chunk.length) return [];
    // Keeping everything: only the last complete line of the chunk needs its mark.
    const lastNl = chunk.lastIndexOf(NEWLINE);
    if (lastNl < start) {
      this.take(chunk, start, chunk.length);
    } else {
      const prevNl = lastNl > start ? chunk.lastIndexOf(NEWLINE, lastNl - 1) : -1;
      if (prevNl >= start) this.headBytes = this.length = 0;
      this.take(chunk, Math.max(start, prevNl + 1), lastNl);
      this.endLine();
      this.take(chunk, lastNl + 1, chunk.length);
    }
    return [chunk.subarray(start)];
  }

  /** End of the stream: a last line without a newline counts as a line. */
  end(): void {
    if (this.length > 0) this.endLine();
  }

  private take(chunk: Buffer, start: number, end: number): void {
    const room = Math.min(HEAD_BYTES - this.headBytes, end - start);
    if (room > 0) this.headBytes += chunk.copy(this.head, this.headBytes, start, start + room);
    this.length += end - start;
  }

  private endLine(): void {
    const mark = this.mark();
    if (this.keeping) this.last = mark;
    else if (this.after && sameLine(mark, this.after)) this.found = true;
    this.keeping = this.found;
    this.headBytes = 0;
    this.length = 0;
  }

  private mark(): LineMark {
    let h = 0x811c9dc5;
    for (let i = 0; i < this.headBytes; i++) h = Math.imul(h ^ (this.head[i] as number), 0x01000193) >>> 0;
    return {
      stamp: this.head.toString('latin1', 0, Math.min(STAMP_CHARS, this.headBytes)),
      length: this.length,
      hash: h.toString(16).padStart(8, '0'),
    };
  }
}

function sameLine(a: LineMark, b: LineMark): boolean {
  return a.stamp === b.stamp && a.length === b.length && a.hash === b.hash;
}

/**
 * Export a container's stdout and stderr through the Engine API, in the engine's order and with its
 * timestamps, exactly as `docker logs --timestamps` prints them, into a spool. A message Docker split
 * at 16 KiB arrives as several frames of one stream sharing one timestamp and is kept as Docker
 * returns it (one line). The file source (file-source.ts) writes the same bytes. Returns what
 * `LineResume` saw: whether the earlier export's last line came, and the last line shipped.
 */
export async function exportContainerLogs(
  docker: DockerClient,
  request: ExportRequest,
  spool: EntrySpool,
): Promise<{ found: boolean; last: LineMark | null }> {
  const stream: Readable = await docker.containerLogs(request.container, {
    since: toDockerBound(request.since),
    until: request.until === null ? undefined : toDockerBound(request.until),
    timestamps: true,
    tty: request.tty,
    raw: true,
  });
  // A TTY container's stream is not multiplexed: its bytes are the log.
  const copier = request.tty ? null : new FrameCopier();
  const resume = new LineResume(request.after ?? null);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (const part of resume.filter(copier ? copier.transform(chunk) : chunk)) await spool.write(part);
  }
  copier?.end();
  resume.end();
  return { found: resume.found, last: resume.last };
}
