/**
 * Reading only the new lines of a container's log, the way the shipper reads it: the json-file
 * generations by byte offset when the engine is local (following rotation by the first line's
 * fingerprint, so an inode reused by a new file is not mistaken for the old one), the Engine API from
 * the last timestamp otherwise. Only complete lines are consumed: a half-written entry waits.
 */
import type { FileHandle } from 'node:fs/promises';
import type { DockerClient } from '../../docker/client.js';
import { FrameCopier } from '../../docker/frames.js';
import { readFirstLine, readWholeLines } from '../../docker/json-file.js';
import { listGenerations, openGeneration } from '../../docker/log-files.js';
import type { FilePosition } from '../../core/ship-state.js';
import { formatNanoTime, parseNanoTime } from '../../core/time.js';
import type { LineScanner } from './scan.js';

const NEWLINE = 0x0a;

/** Where the next run continues in one container's log. */
export interface LogPosition {
  name: string;
  short: string;
  file?: FilePosition;
  /** Engine API: the time of the last line read (RFC 3339, nine fraction digits). */
  since?: string;
  /** When it was last read (ISO), to forget containers gone for good. */
  seenAt: string;
}

interface Generation {
  path: string;
  compressed: boolean;
  dev: string;
  ino: string;
  fingerprint: string | null;
  firstTime: bigint | null;
  handle: FileHandle;
}

/** One file of a log to read from its start (a rotated generation or a held link). */
export interface LogFile {
  path: string;
  compressed: boolean;
}

/**
 * Read the json-file log (the files oldest first) from `position` on into the scanner; returns the
 * new position, and a note when the position's file had gone before it was read to its end.
 */
export async function readLogFiles(
  files: LogFile[],
  position: FilePosition | undefined,
  scanner: LineScanner,
  /** With no position (a container seen first): where to begin, so a first run reads the last hour, not years. */
  startAt: bigint | null = null,
): Promise<{ position: FilePosition | undefined; lost: boolean }> {
  const gens = await openGenerations(files);
  try {
    let start = 0;
    let from = 0;
    let lost = false;
    if (!position && startAt !== null) {
      // A generation is wholly before startAt when the next one begins before it.
      while (start + 1 < gens.length && (gens[start + 1]?.firstTime ?? startAt + 1n) <= startAt) start++;
      const g = gens[start];
      if (g && !g.compressed) from = await offsetAtTime(g.handle, startAt);
    }
    if (position) {
      const at = gens.findIndex((g) =>
        position.fingerprint !== null && g.fingerprint !== null
          ? g.fingerprint === position.fingerprint
          : g.dev === position.dev && g.ino === position.ino,
      );
      if (at !== -1) {
        start = at;
        from = position.offset;
      } else {
        // Rotated away before it was read to its end: the newer files are read whole.
        lost = true;
        const after = position.firstTime;
        start = gens.findIndex((g) => after === null || g.firstTime === null || formatNanoTime(g.firstTime) > after);
        if (start === -1) return { position, lost };
      }
    }
    let next = position;
    for (let i = start; i < gens.length; i++) {
      const g = gens[i] as Generation;
      const begin = i === start ? from : 0;
      // A file shorter than the offset was truncated (copytruncate): read it again from its start.
      const readFrom = g.compressed || begin <= Number((await g.handle.stat()).size) ? begin : 0;
      const offset = await readWholeLines(g.handle, readFrom, g.compressed, (chunk, _at, end) =>
        scanner.jsonFile(chunk, 0, end),
      );
      next = {
        dev: g.dev,
        ino: g.ino,
        fingerprint: g.fingerprint,
        firstTime: g.firstTime === null ? null : formatNanoTime(g.firstTime),
        offset,
      };
    }
    return { position: next, lost };
  } finally {
    await Promise.all(gens.map((g) => g.handle.close().catch(() => undefined)));
  }
}

/** The generations of a container's live log, oldest first. */
export async function logGenerations(logPath: string): Promise<LogFile[]> {
  return (await listGenerations(logPath)).reverse().map((g) => ({ path: g.path, compressed: g.compressed }));
}

/**
 * The offset of a line start at or shortly before the first entry stamped `at` or later (entries are
 * in time order): a binary search over the file, reading 64 KiB per step.
 */
export async function offsetAtTime(handle: FileHandle, at: bigint): Promise<number> {
  const size = Number((await handle.stat()).size);
  const probe = Buffer.allocUnsafe(64 * 1024);
  /** The time of the first complete entry after `offset`, and where that entry starts. */
  const entryAfter = async (offset: number): Promise<{ time: bigint; start: number } | null> => {
    const { bytesRead } = await handle.read(probe, 0, probe.length, offset);
    const nl = offset === 0 ? -1 : probe.indexOf(NEWLINE);
    if (offset !== 0 && (nl === -1 || nl >= bytesRead)) return null;
    const end = probe.indexOf(NEWLINE, nl + 1);
    if (end === -1 || end >= bytesRead) return null;
    const key = probe.lastIndexOf(TIME_KEY, end);
    if (key <= nl) return null;
    const close = probe.indexOf(0x22, key + TIME_KEY.length);
    try {
      return { time: parseNanoTime(probe.toString('latin1', key + TIME_KEY.length, close)), start: offset + nl + 1 };
    } catch {
      return null;
    }
  };
  let lo = 0;
  let hi = size;
  while (hi - lo > probe.length) {
    const mid = Math.floor((lo + hi) / 2);
    const entry = await entryAfter(mid);
    if (entry === null) break;
    if (entry.time < at) lo = entry.start;
    else hi = mid;
  }
  return lo;
}

const TIME_KEY = Buffer.from('"time":"');

async function openGenerations(files: LogFile[]): Promise<Generation[]> {
  const out: Generation[] = [];
  const seen = new Set<string>();
  for (const f of files) {
    // A `.N` compressed meanwhile is opened as its `.N.gz`; anything else that cannot be opened is skipped.
    const handle = await openGeneration(f).catch(() => null);
    if (!handle) continue; // rotated away or removed between the listing and the open
    try {
      const info = await handle.stat({ bigint: true });
      const first = await readFirstLine(handle, f.compressed);
      const key = first.fingerprint ?? `${info.dev}:${info.ino}`;
      if (seen.has(key)) {
        await handle.close();
        continue;
      }
      seen.add(key);
      out.push({
        path: f.path,
        compressed: f.compressed,
        dev: info.dev.toString(),
        ino: info.ino.toString(),
        fingerprint: first.fingerprint,
        firstTime: first.time,
        handle,
      });
    } catch {
      await handle.close().catch(() => undefined);
    }
  }
  return out;
}

/**
 * Read the log through the Engine API from `since` (exclusive) to now; returns the time of the last
 * complete line read (nine fraction digits), or `since` when there was none.
 */
export async function readApiLog(
  docker: DockerClient,
  id: string,
  tty: boolean,
  since: string | undefined,
  untilMs: number,
  scanner: LineScanner,
): Promise<string | undefined> {
  const sinceNs = since === undefined ? null : parseNanoTime(since);
  const stream = await docker.containerLogs(id, {
    since: since ?? 0,
    until: new Date(untilMs),
    timestamps: true,
    tty,
    raw: true,
  });
  const copier = tty ? null : new FrameCopier();
  let carry: Buffer = Buffer.alloc(0);
  let last = since;
  const consume = (data: Buffer, end: number): void => {
    // Docker's `since` is inclusive: lines at the very time already read are skipped.
    let p = 0;
    while (sinceNs !== null && p < end) {
      const sp = data.indexOf(0x20, p);
      const nl = data.indexOf(NEWLINE, p);
      if (sp === -1 || nl === -1 || sp > nl) break;
      let t: bigint;
      try {
        t = parseNanoTime(data.toString('latin1', p, sp));
      } catch {
        break;
      }
      if (t > sinceNs) break;
      p = nl + 1;
    }
    scanner.stamped(data, p, end);
    const prev = data.lastIndexOf(NEWLINE, end - 2);
    const lineStart = prev === -1 ? 0 : prev + 1;
    const sp = data.indexOf(0x20, lineStart);
    if (sp !== -1 && sp < end) {
      try {
        const t = parseNanoTime(data.toString('latin1', lineStart, sp));
        if (sinceNs === null || t > sinceNs) last = formatNanoTime(t);
      } catch {
        // not a stamped line
      }
    }
  };
  for await (const raw of stream) {
    const out = copier ? copier.transform(raw as Buffer) : (raw as Buffer);
    if (out.length === 0) continue;
    const data = carry.length > 0 ? Buffer.concat([carry, out]) : Buffer.from(out);
    const end = data.lastIndexOf(NEWLINE);
    if (end === -1) {
      carry = data;
      continue;
    }
    consume(data, end + 1);
    carry = data.subarray(end + 1);
  }
  return last;
}
