/**
 * Line shapes while shipping: each container line's first 120 characters after Docker's timestamp, with
 * digits, hex ids, UUIDs and quoted values masked, counted by bytes and lines. The report points at what
 * the app could stop writing (a health check's access line); no line is ever dropped for it.
 *
 * Cost matters here (it runs on every shipped byte): lines are found with Buffer.indexOf, only the first
 * 120 bytes of each are looked at, in one byte loop that writes the shape into a reused buffer and
 * hashes it; a string is made only for a shape not seen before. The table is bounded: when it fills,
 * the smaller half is dropped (their lines still count in the totals).
 */
import type { PatternTable, ShapeCount } from '../core/ship-state.js';

/** Characters of a line's message that make its shape. */
export const SHAPE_PREFIX = 120;
/** Shapes kept per container in the state and the bucket. */
export const TOP_SHAPES = 20;
/** Shapes one run tracks per container before dropping the smaller half. */
const TABLE_LIMIT = 2000;

const NL = 0x0a;
const SPACE = 0x20;
const QUOTE = 0x22;
const APOS = 0x27;
const BACKSLASH = 0x5c;
const DASH = 0x2d;

/** 1 digit, 2 hex letter, 4 other letter (or `_`): classes of the bytes that make tokens. */
const CLASS = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) CLASS[c] = 1;
for (let c = 0x61; c <= 0x66; c++) CLASS[c] = 2;
for (let c = 0x41; c <= 0x46; c++) CLASS[c] = 2;
for (let c = 0x67; c <= 0x7a; c++) CLASS[c] = 4;
for (let c = 0x47; c <= 0x5a; c++) CLASS[c] = 4;
CLASS[0x5f] = 4;

const N = Buffer.from('<n>');
const HEX = Buffer.from('<hex>');
const UUID = Buffer.from('<uuid>');
const STR = Buffer.from('<s>');

interface Entry extends ShapeCount {
  hash: number;
}

/** True when `line[at..]` is a UUID (8-4-4-4-12 hex digits) ending at a token boundary. */
function isUuid(line: Buffer, at: number, end: number): boolean {
  if (at + 36 > end) return false;
  for (let i = 0; i < 36; i++) {
    const c = line[at + i] as number;
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== DASH) return false;
    } else if ((CLASS[c] as number) & 4 || CLASS[c] === 0) return false;
  }
  return at + 36 === end || CLASS[line[at + 36] as number] === 0;
}

/**
 * Counts the shapes of one entry's lines as its bytes stream by (chunks may split a line anywhere).
 * `skipTimestamp`: the lines start with Docker's RFC 3339 timestamp and a space, which is not shape.
 * A line inside one chunk is read where it is; only a line split between chunks has its first bytes
 * copied. The shape is hashed as it is read; its text is made only the first time it is seen.
 */
export class ShapeCounter {
  private readonly table = new Map<number, Entry>();
  private readonly prefix = Buffer.allocUnsafe(SHAPE_PREFIX + 64);
  private readonly out = Buffer.allocUnsafe(SHAPE_PREFIX * 3 + 16);
  private outLength = 0;
  /** Bytes of the open (split) line so far, and how many of them are in `prefix`. */
  private lineBytes = 0;
  private prefixLength = 0;
  private open = false;
  totalBytes = 0;
  totalLines = 0;

  constructor(private readonly skipTimestamp = true) {}

  /** Count the lines in `data`; a line left open continues with the next call. */
  write(data: Buffer): void {
    let start = 0;
    const length = data.length;
    while (start < length) {
      const nl = data.indexOf(NL, start);
      if (nl === -1) {
        this.take(data, start, length);
        return;
      }
      if (this.open) {
        this.take(data, start, nl + 1);
        this.count(this.prefix, 0, this.prefixLength, this.lineBytes);
        this.lineBytes = 0;
        this.prefixLength = 0;
        this.open = false;
      } else {
        this.count(data, start, nl + 1, nl + 1 - start);
      }
      start = nl + 1;
    }
  }

  /** Keep the first bytes of a line split between chunks. */
  private take(data: Buffer, start: number, end: number): void {
    this.open = true;
    this.lineBytes += end - start;
    const room = this.prefix.length - this.prefixLength;
    if (room > 0) {
      const n = Math.min(room, end - start);
      data.copy(this.prefix, this.prefixLength, start, start + n);
      this.prefixLength += n;
    }
  }

  /** Close the open line (the entry ended without a newline). */
  flush(): void {
    if (!this.open) return;
    this.count(this.prefix, 0, this.prefixLength, this.lineBytes);
    this.lineBytes = 0;
    this.prefixLength = 0;
    this.open = false;
  }

  /** Count one line of `bytes` bytes whose start is `line[start..end)`. */
  private count(line: Buffer, start: number, end: number, bytes: number): void {
    const hash = this.hashShape(line, start, end);
    let entry = this.table.get(hash);
    if (entry === undefined) {
      if (this.table.size >= TABLE_LIMIT) this.shrink();
      this.shape(line, start, end, true);
      entry = { hash, shape: this.out.toString('utf8', 0, this.outLength), bytes: 0, lines: 0 };
      this.table.set(hash, entry);
    }
    entry.bytes += bytes;
    entry.lines++;
    this.totalBytes += bytes;
    this.totalLines++;
  }

  /** Keep the larger half of the table. */
  private shrink(): void {
    const kept = [...this.table.values()].sort((a, b) => b.bytes - a.bytes).slice(0, TABLE_LIMIT / 2);
    this.table.clear();
    for (const e of kept) this.table.set(e.hash, e);
  }

  /** Where a line's message starts and where its shape ends (the first 120 bytes, a whole character). */
  private bounds(line: Buffer, from: number, to: number): number {
    let end = to;
    if (end > from && line[end - 1] === NL) end--;
    if (end > from && line[end - 1] === 0x0d) end--;
    let i = from;
    if (this.skipTimestamp && end - from > 20 && CLASS[line[from] as number] === 1) {
      // The shipper writes nine fraction digits (30 bytes and a space); other writers vary.
      if (line[from + 30] === SPACE && line[from + 29] === 0x5a) i = from + 31;
      else {
        const limit = Math.min(end, from + 40);
        let j = from + 19;
        while (j < limit && line[j] !== SPACE) j++;
        if (j < limit) i = j + 1;
      }
    }
    if (end - i > SHAPE_PREFIX) {
      end = i + SHAPE_PREFIX;
      while (end > i && ((line[end] as number) & 0xc0) === 0x80) end--;
    }
    this.messageStart = i;
    return end;
  }

  private messageStart = 0;

  /**
   * The hash of a line's shape, in one pass over its first bytes (FNV-1a over what the shape holds, a
   * mask being one marker byte): this runs for every line, the text only for a shape not seen before.
   */
  private hashShape(line: Buffer, from: number, to: number): number {
    const end = this.bounds(line, from, to);
    let i = this.messageStart;
    let hash = 0x811c9dc5;
    let last = 0;
    while (i < end) {
      const c = line[i] as number;
      const cls = CLASS[c] as number;
      if (cls === 0) {
        if ((c === QUOTE || c === APOS) && (last === 0x3d || last === 0x3a)) {
          let j = i + 1;
          while (j < end && line[j] !== c) j += line[j] === BACKSLASH ? 2 : 1;
          hash = Math.imul(hash ^ 0x01, 0x01000193);
          i = j + 1;
          last = c;
          continue;
        }
        hash = Math.imul(hash ^ c, 0x01000193);
        if (c !== SPACE) last = c;
        i++;
        continue;
      }
      const before = hash;
      let j = i;
      let seen = 0;
      let digits = false;
      while (j < end) {
        const d = line[j] as number;
        const k = CLASS[d] as number;
        if (k === 0) break;
        seen |= k;
        if (k === 1) {
          if (!digits) hash = Math.imul(hash ^ 0x04, 0x01000193);
          digits = true;
        } else {
          hash = Math.imul(hash ^ d, 0x01000193);
          digits = false;
        }
        j++;
      }
      last = 0x3e;
      if ((seen & 4) === 0) {
        if (j - i === 8 && line[j] === DASH && isUuid(line, i, end)) {
          hash = Math.imul(before ^ 0x02, 0x01000193);
          i += 36;
          continue;
        }
        if (seen === 3 && j - i >= 8) hash = Math.imul(before ^ 0x03, 0x01000193);
      }
      i = j;
    }
    return hash >>> 0;
  }

  /** The shape's text, written to `out` (its length in `outLength`). */
  private shape(line: Buffer, from: number, to: number, emit: boolean): number {
    const end = this.bounds(line, from, to);
    let i = this.messageStart;
    const out = this.out;
    let o = 0;
    let hash = 0x811c9dc5;
    let last = 0;
    while (i < end) {
      const c = line[i] as number;
      const cls = CLASS[c] as number;
      if (cls === 0) {
        if ((c === QUOTE || c === APOS) && (last === 0x3d || last === 0x3a)) {
          // A quoted value after `=` or `:` (key="v", "k": "v"): masked whole.
          let j = i + 1;
          while (j < end && line[j] !== c) j += line[j] === BACKSLASH ? 2 : 1;
          hash = Math.imul(hash ^ 0x01, 0x01000193);
          if (emit) {
            out[o++] = c;
            o += STR.copy(out, o);
            if (j < end) out[o++] = c;
          }
          i = j + 1;
          last = c;
          continue;
        }
        hash = Math.imul(hash ^ c, 0x01000193);
        if (emit) out[o++] = c;
        if (c !== SPACE) last = c;
        i++;
        continue;
      }
      // A token of letters and digits.
      let j = i;
      let seen = 0;
      while (j < end) {
        const k = CLASS[line[j] as number] as number;
        if (k === 0) break;
        seen |= k;
        j++;
      }
      last = 0x3e;
      if ((seen & 4) === 0) {
        // Hex digits only: a UUID, or a hash or id (8 or more, with digits and letters).
        if (j - i === 8 && line[j] === DASH && isUuid(line, i, end)) {
          hash = Math.imul(hash ^ 0x02, 0x01000193);
          if (emit) o += UUID.copy(out, o);
          i += 36;
          continue;
        }
        if (seen === 3 && j - i >= 8) {
          hash = Math.imul(hash ^ 0x03, 0x01000193);
          if (emit) o += HEX.copy(out, o);
          i = j;
          continue;
        }
        if (seen === 1) {
          hash = Math.imul(hash ^ 0x04, 0x01000193);
          if (emit) o += N.copy(out, o);
          i = j;
          continue;
        }
      }
      // Letters stay; each run of digits is `<n>`.
      while (i < j) {
        const d = line[i] as number;
        if (CLASS[d] === 1) {
          while (i < j && CLASS[line[i] as number] === 1) i++;
          hash = Math.imul(hash ^ 0x04, 0x01000193);
          if (emit) o += N.copy(out, o);
        } else {
          hash = Math.imul(hash ^ d, 0x01000193);
          if (emit) out[o++] = d;
          i++;
        }
      }
    }
    this.outLength = o;
    return hash >>> 0;
  }
  /** The shapes counted, largest first. */
  shapes(): ShapeCount[] {
    return [...this.table.values()]
      .sort((a, b) => b.bytes - a.bytes)
      .map(({ shape, bytes, lines }) => ({ shape, bytes, lines }));
  }
}

/** Half-life of the kept counts: older lines weigh less, so the table follows what the app writes now. */
const KEEP_DAYS = 30;

/**
 * Add one run's counts to a container's kept table and keep the top shapes. Counts older than 30 days
 * are halved (and `since` moves forward by half), so the table says what the app writes now.
 */
export function mergePatterns(
  kept: PatternTable | undefined,
  counter: ShapeCounter,
  nowMs: number,
  top = TOP_SHAPES,
): PatternTable {
  let base: PatternTable = kept ?? { since: new Date(nowMs).toISOString(), bytes: 0, lines: 0, shapes: [] };
  const sinceMs = Date.parse(base.since);
  if (!Number.isNaN(sinceMs) && nowMs - sinceMs > KEEP_DAYS * 86_400_000) {
    const half = (n: number): number => Math.round(n / 2);
    base = {
      since: new Date(sinceMs + (nowMs - sinceMs) / 2).toISOString(),
      bytes: half(base.bytes),
      lines: half(base.lines),
      shapes: base.shapes.map((s) => ({ ...s, bytes: half(s.bytes), lines: half(s.lines) })),
    };
  }
  const merged = new Map<string, ShapeCount>();
  for (const s of base.shapes) merged.set(s.shape, { ...s });
  for (const s of counter.shapes()) {
    const have = merged.get(s.shape);
    if (have) {
      have.bytes += s.bytes;
      have.lines += s.lines;
    } else merged.set(s.shape, { ...s });
  }
  return {
    since: base.since,
    bytes: base.bytes + counter.totalBytes,
    lines: base.lines + counter.totalLines,
    shapes: [...merged.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top),
  };
}
