/**
 * Docker's multiplexed log and exec stream, in one place: frames of an 8-byte header (stream type,
 * three zero bytes, big-endian payload size) and the payload. Type 0 (stdin) and 1 are stdout, 2 is
 * stderr, 3 carries an engine error. Two readers: LogDemuxer yields frame objects (exec, tails), and
 * FrameCopier turns a `--timestamps` log stream into the bytes `docker logs --timestamps` prints,
 * without an object per line (exports of millions of lines).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { MizualError } from '../core/errors.js';
import { LineSplitter } from '../core/lines.js';

export interface LogFrame {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** The RFC 3339 timestamp Docker recorded. */
  timestamp: string | null;
  text: string;
}

export const FRAME_HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;
const ENGINE_ERROR = 3;
const NEWLINE = 0x0a;

/** The stream of a frame header's type byte (1 stdout, 2 stderr, 3 engine error); throws on anything else. */
function frameStream(type: number): number {
  if (type === 0 || type === STDOUT) return STDOUT;
  if (type === STDERR || type === ENGINE_ERROR) return type;
  throw new MizualError(`malformed Docker log stream (frame type ${String(type)})`);
}

function engineError(payload: Buffer): MizualError {
  return new MizualError(`Docker engine error in log stream: ${payload.toString('utf8').trim()}`);
}

function truncatedStream(left: number): MizualError {
  return new MizualError(`Docker log stream ended inside a frame (${left} bytes left over)`);
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
      callback(truncatedStream(this.buffered));
      return;
    }
    callback();
  }

  private drainFrames(): void {
    for (;;) {
      if (this.header === null) {
        if (this.buffered < FRAME_HEADER_BYTES) return;
        const header = this.consume(FRAME_HEADER_BYTES);
        this.header = { type: frameStream(header[0] ?? -1), size: header.readUInt32BE(4) };
      }
      const { type, size } = this.header;
      if (this.buffered < size) return;
      this.header = null;
      const data = this.consume(size);
      if (type === ENGINE_ERROR) throw engineError(data);
      this.push({ stream: type === STDOUT ? 'stdout' : 'stderr', data } satisfies LogFrame);
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
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
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
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + take);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < FRAME_HEADER_BYTES) break;
        this.headerFill = 0;
        const size = this.header.readUInt32BE(4);
        this.startFrame(this.header[0] as number, size);
        if (this.stream !== ENGINE_ERROR && this.open && this.open.stream !== this.stream) {
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
    if (this.headerFill > 0 || this.remaining > 0) throw truncatedStream(this.headerFill + Math.max(0, this.remaining));
  }

  private startFrame(type: number, size: number): void {
    this.stream = frameStream(type);
    this.remaining = size;
    this.stampFill = 0;
    this.errorText = this.stream === ENGINE_ERROR ? [] : null;
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
      throw engineError(Buffer.concat(this.errorText));
    }
    if (this.holding) o = this.release(out, o);
    if (this.lastByte !== NEWLINE && this.stampFill > 0) {
      this.open = { stream: this.stream, stamp: Buffer.from(this.stamp) };
    }
    return o;
  }
}

/** Wrap a TTY container's raw log stream so it yields the same frames as the demuxer. */
export function rawToFrames(): Transform {
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, { stream: 'stdout', data: chunk } satisfies LogFrame);
    },
  });
}

const TIMESTAMP_PREFIX = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}) /;

/**
 * Lines of a demultiplexed log stream, frame by frame: a frame without a trailing newline is joined
 * to the next of its stream (one LineSplitter per stream).
 */
export class FrameLines {
  private readonly splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };
  constructor(private readonly timestamps: boolean) {}

  /** The lines this frame completes. */
  push(frame: LogFrame): LogLine[] {
    const lines: LogLine[] = [];
    const splitter = this.splitters[frame.stream];
    let data = frame.data;
    // Docker splits messages over 16 KiB into several frames, each with its own timestamp: keep the first.
    if (this.timestamps && splitter.pending) {
      const stamp = TIMESTAMP_PREFIX.exec(data.subarray(0, 64).toString('latin1'));
      if (stamp) data = data.subarray(stamp[0].length);
    }
    splitter.push(data, (line) => lines.push(this.toLine(frame.stream, line)));
    return lines;
  }

  /** The unfinished last line of each stream. */
  end(): LogLine[] {
    const lines: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.splitters[stream].end();
      if (rest) lines.push(this.toLine(stream, rest));
    }
    return lines;
  }

  private toLine(stream: 'stdout' | 'stderr', line: Buffer): LogLine {
    return splitTimestamp(stream, line.toString('utf8').replace(/\r$/, ''), this.timestamps);
  }
}

/** Split frames into lines; a frame without a trailing newline is joined to the next of its stream. */
export function framesToLines(frames: Iterable<LogFrame>, timestamps: boolean): LogLine[] {
  const split = new FrameLines(timestamps);
  const lines: LogLine[] = [];
  for (const frame of frames) lines.push(...split.push(frame));
  return [...lines, ...split.end()];
}

function splitTimestamp(stream: 'stdout' | 'stderr', line: string, timestamps: boolean): LogLine {
  if (!timestamps) return { stream, timestamp: null, text: line };
  const match = TIMESTAMP_PREFIX.exec(line);
  if (!match) return { stream, timestamp: null, text: line };
  return { stream, timestamp: match[0].slice(0, -1), text: line.slice(match[0].length) };
}
