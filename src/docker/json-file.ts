/**
 * Docker's json-file log driver on disk: one JSON object per line (`{"log":"…","stream":"stdout",
 * "time":"…"}`), in the order dockerd wrote it, rotated into `<id>-json.log.1`, `.2`, … (`.N.gz` with
 * compress=true). JsonFileCopier turns complete lines of such a file into exactly the bytes the Engine
 * API's `--timestamps` log stream gives after FrameCopier (frames.ts): `<time, 9 fraction digits> <log>`,
 * Docker's 16 KiB pieces of one long message joined as the API joins them, without an object per line
 * (a byte scanner; JSON.parse only for lines it does not recognise).
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { formatNanoTime, parseNanoTime } from '../core/time.js';

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SPACE = 0x20;
const LOG_PREFIX = Buffer.from('{"log":"');
const STREAM_KEY = Buffer.from(',"stream":"');
const TIME_KEY = Buffer.from('"time":"');
/** Escapes in one log value past which JSON.parse decodes it (measured: about 4x faster on JSON app logs). */
const MAX_SCANNED_ESCAPES = 8;
/** `2026-11-25T09:43:48.040200185Z ` */
export const STAMP_BYTES = 31;

/** What the copier saw of a chunk: how far it is safe to commit. */
export interface CopyResult {
  /** The output bytes for the chunk (valid until the next call: the buffer is reused). */
  out: Buffer;
  /** Output bytes up to the last message boundary in this chunk, or -1 when the chunk has none. */
  boundaryOut: number;
  /** Input offset (relative to the chunk) just after the line that ended at that boundary. */
  boundaryIn: number;
  /** Lines that were not json-file entries (a crash's NUL-filled tail, say): skipped. */
  unreadable: number;
}

/**
 * Converts complete json-file lines into API-format bytes. State (an open message whose last piece
 * had no newline) carries over between calls and between the generations of one container's log.
 * The hot path writes each line's stamp and decoded log straight into the output buffer, with no
 * object or string per line (a gigabyte is millions of lines).
 */
export class JsonFileCopier {
  private scratch = Buffer.alloc(0);
  /** The stream and stamp of the message left open by a piece without a trailing newline. */
  private openStream = 0;
  private readonly openStamp = Buffer.alloc(STAMP_BYTES);
  private readonly stamp = Buffer.alloc(STAMP_BYTES);
  /** The stamp (as text, 9 fraction digits) of the last line at a message boundary. */
  lastStamp: string | null = null;
  /** The stamp of the last line converted, boundary or not. */
  lastLineStamp: string | null = null;
  /** Lines stamped before this are skipped (the first run's window, or a checkpoint kept as a time). */
  private readonly skipBefore: Buffer | null;
  /** Position of the next backslash at or after a scan position in the current chunk (chunk length: none). */
  private bs = -1;
  constructor(skipBefore: bigint | null = null) {
    // Fixed-width UTC stamps with nine fraction digits order correctly byte by byte.
    this.skipBefore = skipBefore === null ? null : Buffer.from(formatNanoTime(skipBefore), 'latin1');
  }

  /** True when a message is open: its last piece so far had no newline. */
  get open(): boolean {
    return this.openStream !== 0;
  }

  /** Convert the complete lines in `chunk[start, end)` (`end` just after a newline). */
  copy(chunk: Buffer, start: number, end: number): CopyResult {
    // Output never exceeds the input: a stamp and a newline are shorter than an entry's JSON.
    if (this.scratch.length < end - start + 64) this.scratch = Buffer.allocUnsafe(Math.max(end - start + 64, 1 << 16));
    const out = this.scratch;
    this.bs = -1;
    let o = 0;
    let boundaryOut = -1;
    let boundaryIn = 0;
    let unreadable = 0;
    /** Output offsets of the last line's stamp, and of the last one at a boundary (-1: none here). */
    let lastAt = -1;
    let boundaryAt = -1;
    let lineStart = start;
    while (lineStart < end) {
      const nl = chunk.indexOf(NEWLINE, lineStart);
      const lineEnd = nl === -1 || nl >= end ? end : nl;
      const at = this.line(chunk, lineStart, lineEnd, out, o);
      if (at === UNREADABLE) unreadable++;
      else if (at >= 0) {
        o = this.written;
        lastAt = at;
      }
      lineStart = lineEnd + 1;
      if (this.openStream === 0) {
        boundaryOut = o;
        boundaryIn = lineStart - start;
        boundaryAt = lastAt;
      }
    }
    if (lastAt >= 0) this.lastLineStamp = out.toString('latin1', lastAt, lastAt + STAMP_BYTES - 1);
    if (boundaryAt >= 0) this.lastStamp = out.toString('latin1', boundaryAt, boundaryAt + STAMP_BYTES - 1);
    return { out: out.subarray(0, o), boundaryOut, boundaryIn, unreadable };
  }

  /** The output offset after the last line written by `line`. */
  private written = 0;

  /**
   * Convert one line into `out` at `o`: returns where its stamp was written (and sets `written`),
   * SKIPPED for a line before skipBefore, UNREADABLE for a line that is not an entry.
   */
  private line(chunk: Buffer, start: number, end: number, out: Buffer, o: number): number {
    // After a host crash the file can end in NULs; dockerd's next entry then follows them on one line.
    while (start < end && chunk[start] === 0) start++;
    if (start === end) return UNREADABLE;
    const fast = this.scan(chunk, start, end, out, o);
    return fast !== SLOW ? fast : this.slow(chunk.subarray(start, end), out, o);
  }

  private nextBackslash(chunk: Buffer, p: number): number {
    if (this.bs < p) {
      const i = chunk.indexOf(BACKSLASH, p);
      this.bs = i === -1 ? chunk.length : i;
    }
    return this.bs;
  }

  /**
   * The byte scanner for dockerd's own layout: `{"log":"<escaped>","stream":"stdout|stderr"
   * [,"attrs":{…}],"time":"<RFC 3339>"}`. The stream and time are read from the end of the line (an
   * unescaped quote cannot occur inside the log value), then the log is decoded into place.
   */
  private scan(chunk: Buffer, start: number, end: number, out: Buffer, o: number): number {
    if (
      end - start < 40 ||
      chunk[start] !== 0x7b ||
      chunk[start + 1] !== QUOTE ||
      chunk[start + 2] !== 0x6c ||
      chunk[start + 5] !== QUOTE ||
      chunk[start + 6] !== 0x3a ||
      chunk[start + 7] !== QUOTE ||
      chunk[end - 1] !== 0x7d ||
      chunk[end - 2] !== QUOTE
    ) {
      return SLOW;
    }
    // The time value holds no quote: its opening quote is the first one back from the end.
    let tq = end - 3;
    while (tq > start && chunk[tq] !== QUOTE) tq--;
    const t = tq - 7; // `"time":"`
    if (
      t < start + 8 ||
      chunk[t] !== QUOTE ||
      chunk[t + 1] !== 0x74 ||
      chunk[t + 5] !== QUOTE ||
      chunk[t + 6] !== 0x3a
    ) {
      return SLOW;
    }
    // Without attrs, `","stream":"stdout"` ends right before `,"time"`; with them, search for it.
    const k =
      chunk[t - 1] === 0x2c && chunk[t - 2] === QUOTE && chunk[t - 9] === QUOTE && chunk[t - 10] === 0x3a
        ? t - 19
        : chunk.lastIndexOf(STREAM_KEY, t);
    if (
      k < start + 8 ||
      chunk[k] !== 0x2c ||
      chunk[k + 1] !== QUOTE ||
      chunk[k + 2] !== 0x73 ||
      chunk[k + 8] !== QUOTE ||
      chunk[k - 1] !== QUOTE ||
      chunk[k + 17] !== QUOTE
    ) {
      return SLOW;
    }
    const kind = chunk[k + 14];
    const stream = kind === 0x6f ? 1 : kind === 0x65 ? 2 : 0; // std(o)ut, std(e)rr
    if (stream === 0 || !this.formatStamp(chunk, t + TIME_KEY.length, end - 2)) return SLOW;
    if (this.skipBefore !== null && this.before(this.skipBefore)) return SKIPPED;
    const logStart = start + LOG_PREFIX.length;
    const logEnd = k - 1;
    let w = o;
    const closes = this.openStream !== 0 && (this.openStream !== stream || !this.openStamp.equals(this.stamp));
    if (closes) out[w++] = NEWLINE;
    const at = w;
    for (let i = 0; i < STAMP_BYTES; i++) out[w + i] = this.stamp[i] as number;
    w += STAMP_BYTES;
    let p = logStart;
    let escapes = 0;
    for (;;) {
      const b = this.nextBackslash(chunk, p);
      if (b >= logEnd) {
        w += chunk.copy(out, w, p, logEnd);
        break;
      }
      // Many escapes (structured JSON logs): the native parser is faster than stepping through them.
      if (++escapes > MAX_SCANNED_ESCAPES) return SLOW;
      w += chunk.copy(out, w, p, b);
      const next = decodeEscape(chunk, b, logEnd, out, w);
      if (next === null) return SLOW;
      w = next.d;
      p = next.p;
    }
    if (closes) this.openStream = 0;
    this.settle(stream, out, at, w);
    return at;
  }

  /** Is `this.stamp` earlier than `limit` (fixed-width stamps compare byte by byte)? */
  private before(limit: Buffer): boolean {
    for (let i = 0; i < STAMP_BYTES - 1; i++) {
      const d = (this.stamp[i] as number) - (limit[i] as number);
      if (d !== 0) return d < 0;
    }
    return false;
  }

  /** After a line is written at `at` up to `w`: remember it, and whether its message is left open. */
  private settle(stream: number, out: Buffer, at: number, w: number): void {
    this.written = w;
    if (w === at + STAMP_BYTES || out[w - 1] !== NEWLINE) {
      this.openStream = stream;
      this.stamp.copy(this.openStamp);
    } else {
      this.openStream = 0;
    }
  }

  /** Write the 9-digit UTC stamp and its space for Docker's `time` value into `this.stamp`. */
  private formatStamp(chunk: Buffer, start: number, end: number): boolean {
    const len = end - start;
    const st = this.stamp;
    // Docker's own form: `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with trailing zeros trimmed.
    if (len >= 20 && len <= 30 && chunk[end - 1] === 0x5a && chunk[start + 10] === 0x54) {
      const fraction = len === 20 ? 0 : len - 21;
      if (len === 20 || (chunk[start + 19] === 0x2e && fraction >= 1)) {
        for (let i = 0; i < 19; i++) st[i] = chunk[start + i] as number;
        st[19] = 0x2e;
        for (let i = 0; i < 9; i++) st[20 + i] = i < fraction ? (chunk[start + 20 + i] as number) : 0x30;
        st[29] = 0x5a;
        st[30] = SPACE;
        return true;
      }
    }
    try {
      st.write(`${formatNanoTime(parseNanoTime(chunk.toString('latin1', start, end)))} `, 0, 'latin1');
      return true;
    } catch {
      return false;
    }
  }

  /** Any other line: JSON.parse, then the same output. */
  private slow(line: Buffer, out: Buffer, o: number): number {
    let data: { log?: unknown; stream?: unknown; time?: unknown };
    try {
      data = JSON.parse(line.toString('utf8')) as typeof data;
    } catch {
      return UNREADABLE;
    }
    if (typeof data?.log !== 'string' || typeof data.time !== 'string') return UNREADABLE;
    const stream = data.stream === 'stderr' ? 2 : data.stream === 'stdout' ? 1 : 0;
    if (stream === 0) return UNREADABLE;
    try {
      this.stamp.write(`${formatNanoTime(parseNanoTime(data.time))} `, 0, 'latin1');
    } catch {
      return UNREADABLE;
    }
    if (this.skipBefore !== null && this.before(this.skipBefore)) return SKIPPED;
    let w = o;
    if (this.openStream !== 0 && (this.openStream !== stream || !this.openStamp.equals(this.stamp))) {
      out[w++] = NEWLINE;
      this.openStream = 0;
    }
    const at = w;
    w += this.stamp.copy(out, w);
    w += out.write(data.log, w, 'utf8');
    this.settle(stream, out, at, w);
    return at;
  }
}

/** `line` results that are not an output offset. */
const SKIPPED = -1;
const UNREADABLE = -2;
const SLOW = -3;

const SIMPLE_ESCAPES: Record<number, number> = {
  0x6e: 0x0a, // n
  0x74: 0x09, // t
  0x72: 0x0d, // r
  0x22: 0x22, // "
  0x5c: 0x5c, // \
  0x2f: 0x2f, // /
  0x62: 0x08, // b
  0x66: 0x0c, // f
};

function hex4(chunk: Buffer, at: number, end: number): number {
  if (at + 4 > end) return -1;
  let n = 0;
  for (let i = at; i < at + 4; i++) {
    const c = chunk[i] as number;
    const v =
      c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 87 : c >= 0x41 && c <= 0x46 ? c - 55 : -1;
    if (v < 0) return -1;
    n = n * 16 + v;
  }
  return n;
}

/** Decode the escape at `chunk[b]` into `out[d]`; null when it is not a valid JSON escape. */
function decodeEscape(chunk: Buffer, b: number, end: number, out: Buffer, d: number): { p: number; d: number } | null {
  const c = chunk[b + 1];
  if (c === undefined || b + 1 >= end) return null;
  const simple = SIMPLE_ESCAPES[c];
  if (simple !== undefined) {
    out[d] = simple;
    return { p: b + 2, d: d + 1 };
  }
  if (c !== 0x75) return null;
  let code = hex4(chunk, b + 2, end);
  if (code < 0) return null;
  let p = b + 6;
  if (code >= 0xd800 && code <= 0xdbff) {
    const low = chunk[p] === BACKSLASH && chunk[p + 1] === 0x75 ? hex4(chunk, p + 2, end) : -1;
    if (low >= 0xdc00 && low <= 0xdfff) {
      code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
      p += 6;
    } else {
      code = 0xfffd; // A lone surrogate, as Go's decoder (and so `docker logs`) reads it.
    }
  } else if (code >= 0xdc00 && code <= 0xdfff) {
    code = 0xfffd;
  }
  return { p, d: d + out.write(String.fromCodePoint(code), d, 'utf8') };
}

/** The first line of a log file: a fingerprint of it, and its time. */
export interface FirstLine {
  /** sha256 of the first complete line (hex, 32 characters), or null while the file has none. */
  fingerprint: string | null;
  /** Its `time` in ns since the epoch, or null. */
  time: bigint | null;
}

const FIRST_LINE_MAX = 256 * 1024;

/**
 * Identify a log file by its first line: inodes are reused within seconds, so device and inode alone
 * cannot tell a new file from the one a checkpoint names. Reads at most 256 KiB (decompressing a .gz).
 */
export async function readFirstLine(handle: FileHandle, compressed: boolean): Promise<FirstLine> {
  const head = compressed ? await gunzipHead(handle, FIRST_LINE_MAX) : await readHead(handle, FIRST_LINE_MAX);
  const nl = head.indexOf(NEWLINE);
  if (nl === -1) return { fingerprint: null, time: null };
  const line = head.subarray(0, nl);
  const fingerprint = createHash('sha256').update(line).digest('hex').slice(0, 32);
  const t = line.lastIndexOf(TIME_KEY);
  let time: bigint | null = null;
  if (t !== -1) {
    const close = line.indexOf(QUOTE, t + TIME_KEY.length);
    try {
      time = parseNanoTime(line.toString('latin1', t + TIME_KEY.length, close));
    } catch {
      time = null;
    }
  }
  return { fingerprint, time };
}

async function readHead(handle: FileHandle, max: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(max);
  const { bytesRead } = await handle.read(buffer, 0, max, 0);
  return buffer.subarray(0, bytesRead);
}

async function gunzipHead(handle: FileHandle, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of gunzipStream(handle)) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= max) break;
  }
  return Buffer.concat(parts).subarray(0, max);
}

/** The decompressed bytes of a `.gz` generation, read from its start through an open handle (left open). */
export async function* gunzipStream(handle: FileHandle): AsyncGenerator<Buffer> {
  const gunzip = createGunzip({ chunkSize: 128 * 1024 });
  const input = Buffer.allocUnsafe(128 * 1024);
  let position = 0;
  // Docker's FEXTRA header ({"lastTime":…}) is skipped by zlib.
  const feed = (async () => {
    for (;;) {
      const { bytesRead } = await handle.read(input, 0, input.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      if (!gunzip.write(Buffer.from(input.subarray(0, bytesRead)))) {
        await new Promise((resolve) => {
          gunzip.once('drain', resolve);
          gunzip.once('close', resolve);
        });
      }
      if (gunzip.destroyed) return;
    }
    gunzip.end();
  })();
  feed.catch((err: unknown) => gunzip.destroy(err as Error));
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } finally {
    gunzip.destroy();
  }
}

const WHOLE_LINES_READ_BYTES = 1024 * 1024;

/** Handed a chunk of whole lines: `chunk[0, end)` ends with a newline; `chunkStart` is its offset in the file. */
export type ChunkHandler = (chunk: Buffer, chunkStart: number, end: number) => void | Promise<void>;

/**
 * Read a log file (a `.gz` generation decompressed) from `start` to its current end, handing over whole
 * lines only; returns the offset after the last whole line (what the next read starts from).
 */
export async function readWholeLines(
  handle: FileHandle,
  start: number,
  compressed: boolean,
  onChunk: ChunkHandler,
): Promise<number> {
  return compressed ? readCompressed(handle, start, onChunk) : readPlain(handle, start, onChunk);
}

/**
 * Read a plain file from `start` to its current end, handing over complete lines only (`end` just
 * after the last newline in the chunk); returns the offset after the last complete line.
 */
async function readPlain(handle: FileHandle, start: number, onChunk: ChunkHandler): Promise<number> {
  let buffer = Buffer.allocUnsafe(WHOLE_LINES_READ_BYTES);
  let filled = 0;
  let position = start;
  for (;;) {
    if (filled === buffer.length) {
      // One entry longer than the buffer (Docker's are at most ~100 KiB escaped): grow.
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger, 0, 0, filled);
      buffer = bigger;
    }
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) return position;
    filled += bytesRead;
    const last = buffer.lastIndexOf(NEWLINE, filled - 1);
    if (last === -1) continue;
    await onChunk(buffer, position, last + 1);
    buffer.copy(buffer, 0, last + 1, filled);
    filled -= last + 1;
    position += last + 1;
  }
}

/** The same for a `.gz` generation: offsets count decompressed bytes. */
async function readCompressed(handle: FileHandle, start: number, onChunk: ChunkHandler): Promise<number> {
  let skip = start;
  let carry: Buffer = Buffer.alloc(0);
  let position = start;
  for await (const piece of gunzipStream(handle)) {
    let chunk = piece;
    if (skip > 0) {
      const cut = Math.min(skip, chunk.length);
      skip -= cut;
      chunk = chunk.subarray(cut);
      if (chunk.length === 0) continue;
    }
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    const last = data.lastIndexOf(NEWLINE);
    if (last === -1) {
      carry = data;
      continue;
    }
    await onChunk(data, position, last + 1);
    carry = Buffer.from(data.subarray(last + 1));
    position += last + 1;
  }
  return position;
}
