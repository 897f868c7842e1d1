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
 */
export class ShapeCounter {
  private readonly table = new Map<number, Entry>();
  private readonly prefix = Buffer.allocUnsafe(SHAPE_PREFIX + 64);
  private readonly out = Buffer.allocUnsafe(SHAPE_PREFIX * 3 + 16);
  /** Bytes of the open line so far, and how many of them are in `prefix`. */
  private lineBytes = 0;
  private prefixLength = 0;
  private skip: boolean;
  private open = false;
  totalBytes = 0;
  totalLines = 0;

  constructor(private readonly skipTimestamp = true) {
    this.skip = skipTimestamp;
  }

  /** Count the lines in `data`; a line left open continues with the next call. */
  write(data: Buffer): void {
    let start = 0;
    const length = data.length;
    while (start < length) {
      const nl = data.indexOf(NL, start);
      const end = nl === -1 ? length : nl + 1;
      this.take(data, start, end);
      if (nl === -1) return;
      this.endLine();
      start = end;
    }
  }

  /** The open line's bytes in [start, end): its first bytes are kept for the shape. */
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
    if (this.open) this.endLine();
  }

  private endLine(): void {
    const bytes = this.lineBytes;
    const len = this.shapeOf();
    let hash = 0x811c9dc5;
    const out = this.out;
    for (let i = 0; i < len; i++) hash = Math.imul(hash ^ (out[i] as number), 0x01000193);
    hash = (hash ^ len) >>> 0;
    let entry = this.table.get(hash);
    if (entry === undefined) {
      if (this.table.size >= TABLE_LIMIT) this.shrink();
      entry = { hash, shape: out.toString('utf8', 0, len), bytes: 0, lines: 0 };
      this.table.set(hash, entry);
    }
    entry.bytes += bytes;
    entry.lines++;
    this.totalBytes += bytes;
    this.totalLines++;
    this.lineBytes = 0;
    this.prefixLength = 0;
    this.open = false;
  }

  /** Keep the larger half of the table. */
  private shrink(): void {
    const kept = [...this.table.values()].sort((a, b) => b.bytes - a.bytes).slice(0, TABLE_LIMIT / 2);
    this.table.clear();
    for (const e of kept) this.table.set(e.hash, e);
  }

  /** Write the open line's shape into `out`; returns its length. */
  private shapeOf(): number {
    const line = this.prefix;
    let end = this.prefixLength;
    if (end > 0 && line[end - 1] === NL) end--;
    if (end > 0 && line[end - 1] === 0x0d) end--;
    let i = 0;
    if (this.skip && end > 0 && CLASS[line[0] as number] === 1) {
      const space = line.indexOf(SPACE);
      if (space !== -1 && space < 40 && space < end) i = space + 1;
    }
    if (end - i > SHAPE_PREFIX) {
      end = i + SHAPE_PREFIX;
      // Never cut a UTF-8 character in two.
      while (end > i && ((line[end] as number) & 0xc0) === 0x80) end--;
    }
    const out = this.out;
    let o = 0;
    let last = 0;
    while (i < end) {
      const c = line[i] as number;
      const cls = CLASS[c] as number;
      if (cls === 0) {
        if ((c === QUOTE || c === APOS) && (last === 0x3d || last === 0x3a)) {
          // A quoted value after `=` or `:` (key="v", "k": "v"): masked whole.
          let j = i + 1;
          while (j < end && line[j] !== c) j += line[j] === BACKSLASH ? 2 : 1;
          out[o++] = c;
          STR.copy(out, o);
          o += STR.length;
          if (j < end) out[o++] = c;
          i = j + 1;
          last = c;
          continue;
        }
        out[o++] = c;
        if (c !== SPACE) last = c;
        i++;
        continue;
      }
      // A token of letters and digits.
      let j = i;
      let seen = 0;
      while (j < end && (CLASS[line[j] as number] as number) !== 0) seen |= CLASS[line[j++] as number] as number;
      if ((seen & 4) === 0) {
        // Hex digits only: a UUID, or a hash or id (8 or more, with digits and letters).
        if (j - i === 8 && line[j] === DASH && isUuid(line, i, end)) {
          UUID.copy(out, o);
          o += UUID.length;
          i += 36;
          last = 0x3e;
          continue;
        }
        if (seen === 3 && j - i >= 8) {
          HEX.copy(out, o);
          o += HEX.length;
          i = j;
          last = 0x3e;
          continue;
        }
      }
      // Letters stay; each run of digits is `<n>`.
      while (i < j) {
        const d = line[i] as number;
        if (CLASS[d] === 1) {
          while (i < j && CLASS[line[i] as number] === 1) i++;
          N.copy(out, o);
          o += N.length;
        } else {
          out[o++] = d;
          i++;
        }
      }
      last = 0x3e;
    }
    return o;
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
