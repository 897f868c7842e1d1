// `--cat`: the lines of many archives merged in timestamp order without loading them. Each log file
// inside an archive is already sorted, so this is a k-way merge of streams: per host, the archives are
// read one after the other (the shipper's windows of one host never overlap) and the files of one
// archive are merged; the hosts are merged with each other. Lines stay bytes (invalid UTF-8 kept).
// A gzipped tar can only be read front to back, so the files of the archive being merged are first
// spooled, in one pass, to unlinked temp files beside it (disk, not memory; nothing left behind).
// A line without a timestamp (the old scripts' `docker logs` had none) keeps the time of the last
// timestamped line before it in its file, or the archive's name time when there is none: it is never
// dropped and stays in file order. An archive that cannot be read is reported and the others printed.
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  archiveEnd,
  logEntryLabel,
  MANIFEST_NAME,
  MAX_MANIFEST_BYTES,
  parseManifest,
  type Manifest,
} from '../archive/contract.js';
import { readArchive } from '../archive/read.js';
import { describeError } from '../core/errors.js';
import { LineSplitter } from '../core/lines.js';
import { msToNano, parseLeadingTime } from '../core/time.js';
import type { TimeRange } from './range.js';

/** A sorted source of lines; `advance` is synchronous while a batch lasts, to keep the merge fast. */
interface Cursor {
  /** Nanoseconds since the epoch of the line (of the last timestamped line before it, if it has none). */
  key: bigint;
  line: Buffer;
  prefix: Buffer;
  /** Move to the next line; false when exhausted. */
  advance(): boolean | Promise<boolean>;
}

export interface CatFilter {
  /** A short name (`backend`), a container name (`mizual-backend`) or `alerts`. */
  container?: string;
  grep?: RegExp;
  /** Only lines placed inside this range (inclusive). */
  range?: TimeRange;
}

/** What a `--cat` read, so an empty result can say why. */
export interface CatSummary {
  /** Lines printed. */
  printed: number;
  /** Archives read, log files in them, and their lines before any filter. */
  archives: number;
  files: number;
  lines: number;
  /** Archives that could not be read, with the reason. */
  unreadable: { host: string; file: string; error: string }[];
}

/** The lines of one log file inside one archive, read in batches. */
class FileCursor implements Cursor {
  key = -1n;
  line: Buffer = Buffer.alloc(0);
  private lines: Buffer[] = [];
  private keys: bigint[] = [];
  private pos = 0;
  private readonly splitter = new LineSplitter();
  private readonly source: AsyncIterator<Buffer>;
  constructor(
    source: AsyncIterable<Buffer>,
    readonly prefix: Buffer,
    private readonly filter: CatFilter,
    private readonly summary: CatSummary,
    /** The time of lines before the file's first timestamp: the archive's name time. */
    private lastKey: bigint,
  ) {
    this.source = source[Symbol.asyncIterator]();
  }

  private push(line: Buffer): void {
    this.summary.lines++;
    const key = parseLeadingTime(line);
    // A line without a timestamp stays with the line before it.
    if (key !== undefined) this.lastKey = key;
    const range = this.filter.range;
    if (range && (this.lastKey < range.since || this.lastKey > range.until)) return;
    if (this.filter.grep && !this.filter.grep.test(line.toString('utf8'))) return;
    this.lines.push(line);
    this.keys.push(this.lastKey);
  }

  private async fill(): Promise<boolean> {
    this.lines = [];
    this.keys = [];
    this.pos = 0;
    while (this.lines.length === 0) {
      const next = await this.source.next();
      if (next.done) {
        const last = this.splitter.end();
        if (last) this.push(last);
        return this.lines.length > 0;
      }
      this.splitter.push(next.value, (line) => this.push(line));
    }
    return true;
  }

  advance(): boolean | Promise<boolean> {
    this.pos++;
    if (this.pos < this.lines.length) {
      this.line = this.lines[this.pos] as Buffer;
      this.key = this.keys[this.pos] as bigint;
      return true;
    }
    return this.fill().then((more) => {
      if (more) {
        this.line = this.lines[0] as Buffer;
        this.key = this.keys[0] as bigint;
      }
      return more;
    });
  }

  async start(): Promise<boolean> {
    this.pos = -1;
    return this.advance();
  }
}

/** Merge sorted cursors with a binary heap; ties keep the order the cursors were given in. */
class MergeCursor implements Cursor {
  private heap: { cursor: Cursor; order: number }[] = [];
  constructor(private readonly pending: Cursor[]) {}
  get key(): bigint {
    return this.heap[0]?.cursor.key ?? -1n;
  }
  get line(): Buffer {
    return (this.heap[0] as { cursor: Cursor }).cursor.line;
  }
  get prefix(): Buffer {
    return (this.heap[0] as { cursor: Cursor }).cursor.prefix;
  }

  private less(a: { cursor: Cursor; order: number }, b: { cursor: Cursor; order: number }): boolean {
    return a.cursor.key < b.cursor.key || (a.cursor.key === b.cursor.key && a.order < b.order);
  }
  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }
  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }

  /** Prime every cursor (each already positioned on its first line). */
  async start(): Promise<boolean> {
    for (const [order, cursor] of this.pending.entries()) {
      this.heap.push({ cursor, order });
      this.up(this.heap.length - 1);
    }
    return this.heap.length > 0;
  }

  advance(): boolean | Promise<boolean> {
    const top = this.heap[0];
    if (!top) return false;
    const moved = top.cursor.advance();
    if (moved === true) {
      this.down(0);
      return true;
    }
    if (moved === false) return this.drop();
    return moved.then((more) => (more ? (this.down(0), true) : this.drop()));
  }

  private drop(): boolean {
    const last = this.heap.pop();
    if (this.heap.length > 0 && last) {
      this.heap[0] = last;
      this.down(0);
    }
    return this.heap.length > 0;
  }
}

export interface CatArchive {
  host: string;
  file: string;
  /** The window end its name encodes (default: read from the file name). */
  end?: Date;
}

interface SpooledFile {
  entry: string;
  short: string;
  handle: FileHandle;
}

const SPOOL_BATCH = 256 * 1024;

/** The label of a log file: `backend` for `[./]backend-STAMP.log`, else the base name without `.log`. */
function labelOf(name: string): string | undefined {
  return logEntryLabel(name) ?? /(?:^|\/)([^/]+)\.log$/.exec(name)?.[1];
}

/**
 * The log files of one archive, labelled by short container name (`alerts` for the alert log) and
 * filtered, each spooled in one pass to an already-unlinked temp file beside the archive.
 */
export async function spoolLogFiles(
  file: string,
  filter: CatFilter = {},
): Promise<{ entry: string; label: string; source: AsyncIterable<Buffer> }[]> {
  const dir = await mkdtemp(path.join(path.dirname(file), '.mizual-cat-'));
  const spooled: SpooledFile[] = [];
  let manifest: Manifest | undefined;
  try {
    for await (const entry of readArchive(file)) {
      if (entry.type !== 'file') continue;
      // `tar -C dir .` writes `./name`; it is the same file as `name`.
      const name = entry.name.replace(/^(?:\.\/+)+/, '');
      if (name === MANIFEST_NAME && entry.size <= MAX_MANIFEST_BYTES) {
        const parts: Buffer[] = [];
        for await (const chunk of entry.body) parts.push(chunk);
        const read = parseManifest(Buffer.concat(parts).toString('utf8'));
        manifest = read.status === 'ours' ? read.manifest : undefined;
        continue;
      }
      // Every log file is kept: the manifest naming the full container names comes last.
      const short = labelOf(name);
      if (short === undefined) continue;
      const handle = await open(path.join(dir, String(spooled.length)), 'wx+', 0o600);
      spooled.push({ entry: name, short, handle });
      let batch: Buffer[] = [];
      let size = 0;
      for await (const chunk of entry.body) {
        batch.push(chunk);
        size += chunk.length;
        if (size >= SPOOL_BATCH) {
          await handle.write(Buffer.concat(batch, size));
          batch = [];
          size = 0;
        }
      }
      if (size > 0) await handle.write(Buffer.concat(batch, size));
    }
  } catch (err) {
    await Promise.all(spooled.map((s) => s.handle.close()));
    throw err;
  } finally {
    // Open handles keep the bytes readable; the names go now, so an interrupted run leaves nothing.
    await rm(dir, { recursive: true, force: true });
  }
  const described = new Map((manifest?.files ?? []).map((f) => [f.name, f]));
  const chosen: { entry: string; label: string; source: AsyncIterable<Buffer> }[] = [];
  for (const s of spooled) {
    const info = described.get(s.entry);
    // Without a manifest, `mizual-backend` still finds `backend` (the shipper's default naming).
    const names = info
      ? [s.short, info.short, info.container, info.kind === 'alerts' ? 'alerts' : undefined]
      : [s.short, `mizual-${s.short}`];
    if (filter.container !== undefined && !names.includes(filter.container)) {
      await s.handle.close();
      continue;
    }
    const source = s.handle.createReadStream({ start: 0, highWaterMark: 64 * 1024, autoClose: true });
    chosen.push({ entry: s.entry, label: info?.short ?? s.short, source });
  }
  return chosen;
}

/** Lines of one host's archives (already in window order), merged per archive and chained. */
class HostCursor implements Cursor {
  private current: Cursor | undefined;
  private index = 0;
  constructor(
    private readonly archives: CatArchive[],
    private readonly filter: CatFilter,
    private readonly summary: CatSummary,
  ) {}
  get key(): bigint {
    return this.current?.key ?? -1n;
  }
  get line(): Buffer {
    return (this.current as Cursor).line;
  }
  get prefix(): Buffer {
    return (this.current as Cursor).prefix;
  }
  /** Open archives until one has a line. */
  async start(): Promise<boolean> {
    while (this.index < this.archives.length) {
      const archive = this.archives[this.index++] as CatArchive;
      let files: Awaited<ReturnType<typeof spoolLogFiles>>;
      try {
        files = await spoolLogFiles(archive.file, this.filter);
      } catch (err) {
        this.summary.unreadable.push({ host: archive.host, file: archive.file, error: describeError(err) });
        continue;
      }
      this.summary.archives++;
      this.summary.files += files.length;
      const end = archive.end ?? archiveEnd(path.basename(archive.file));
      const base = end ? msToNano(end.getTime()) : -1n;
      const cursors: Cursor[] = [];
      for (const f of files) {
        const prefix = Buffer.from(`${archive.host} ${f.label} `);
        const cursor = new FileCursor(f.source, prefix, this.filter, this.summary, base);
        if (await cursor.start()) cursors.push(cursor);
      }
      const merged = new MergeCursor(cursors);
      if (await merged.start()) {
        this.current = merged;
        return true;
      }
    }
    this.current = undefined;
    return false;
  }
  advance(): boolean | Promise<boolean> {
    const moved = this.current?.advance() ?? false;
    if (moved === true) return true;
    if (moved === false) return this.start();
    return moved.then((more) => more || this.start());
  }
}

export interface CatSink {
  /** Write bytes; resolves when more may be written. */
  write(chunk: Buffer): Promise<void>;
  /** True once the reader went away (EPIPE): stop quietly. */
  readonly closed: boolean;
}

const FLUSH_BYTES = 64 * 1024;

/** Print the selected archives' lines merged by timestamp, each prefixed `host container `; says what was read. */
export async function catArchives(archives: CatArchive[], filter: CatFilter, sink: CatSink): Promise<CatSummary> {
  const summary: CatSummary = { printed: 0, archives: 0, files: 0, lines: 0, unreadable: [] };
  const hosts = new Map<string, CatArchive[]>();
  for (const a of archives) hosts.set(a.host, [...(hosts.get(a.host) ?? []), a]);
  const cursors: Cursor[] = [];
  for (const list of hosts.values()) {
    const cursor = new HostCursor(list, filter, summary);
    if (await cursor.start()) cursors.push(cursor);
  }
  const merged = new MergeCursor(cursors);
  let more = await merged.start();
  let pieces: Buffer[] = [];
  let pending = 0;
  let count = 0;
  const newline = Buffer.from('\n');
  while (more && !sink.closed) {
    pieces.push(merged.prefix, merged.line, newline);
    pending += merged.prefix.length + merged.line.length + 1;
    count++;
    if (pending >= FLUSH_BYTES) {
      await sink.write(Buffer.concat(pieces, pending));
      pieces = [];
      pending = 0;
    }
    const moved = merged.advance();
    more = moved === true || moved === false ? moved : await moved;
  }
  if (pending > 0 && !sink.closed) await sink.write(Buffer.concat(pieces, pending));
  summary.printed = count;
  return summary;
}
