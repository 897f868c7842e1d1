/**
 * Ship every line appended to the alert log exactly once. Timestamps alone cannot do it (a line
 * stamped with a whole second just after a window closed would be lost), so the shipper follows the
 * file by inode and the byte offset after the last complete line it shipped, and after a rotation
 * (`log` renamed to `log.1`) finishes the old inode before reading the new file from its start.
 */
import { promises as fsp, type BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { AlertCursor } from '../core/ship-state.js';
import { msToNano, parseLeadingTime } from '../core/time.js';

export interface AlertSink {
  write(data: Buffer): Promise<void>;
}

const CHUNK = 1024 * 1024;
const MAX_GENERATIONS = 9;
const NEWLINE = 0x0a;
/** Bytes of a line's start enough to read its timestamp. */
const HEAD = 64;

async function statOrNull(file: string): Promise<BigIntStats | null> {
  try {
    return await fsp.stat(file, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Write `[from, to)` of the file to the sink through `buffer`, one chunk at a time. */
async function copyRange(handle: FileHandle, from: number, to: number, buffer: Buffer, sink: AlertSink): Promise<void> {
  for (let at = from; at < to;) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, to - at), at);
    if (bytesRead === 0) throw new Error('alert log shrank while it was read');
    await sink.write(buffer.subarray(0, bytesRead));
    at += bytesRead;
  }
}

/**
 * Copy `[start, size)` of a file to the sink, stopping after the last newline unless `toEnd`.
 * With `fromMs`, skips lines before the first one stamped at or after it. Returns the offset reached.
 * Memory is two chunks whatever the line lengths: an unfinished line is never joined in memory, only
 * its start offset is kept, and once its newline arrives it is copied from the file again.
 */
async function copyLines(
  file: string,
  start: number,
  size: number,
  sink: AlertSink,
  options: { toEnd?: boolean; fromMs?: number } = {},
): Promise<number> {
  const handle = await fsp.open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    let spare: Buffer | undefined;
    const head = Buffer.allocUnsafe(HEAD);
    let position = start;
    // Every byte before `shipped` is written (or skipped); [shipped, position) is an unfinished line.
    let shipped = start;
    const fromNs = options.fromMs === undefined ? undefined : msToNano(options.fromMs);
    let skipping = fromNs !== undefined;
    while (position < size) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, size - position), position);
      if (bytesRead === 0) break;
      const chunkStart = position;
      position += bytesRead;
      const chunk = buffer.subarray(0, bytesRead);
      const last = chunk.lastIndexOf(NEWLINE);
      if (last === -1) continue;
      const linesEnd = chunkStart + last + 1;
      let from = shipped;
      while (skipping && from < linesEnd) {
        // First run: drop whole lines until one is stamped inside the window; later lines all go.
        const lineHead =
          from >= chunkStart
            ? chunk.subarray(from - chunkStart, from - chunkStart + HEAD)
            : head.subarray(0, (await handle.read(head, 0, HEAD, from)).bytesRead);
        const newline = lineHead.indexOf(NEWLINE);
        const when = parseLeadingTime(newline === -1 ? lineHead : lineHead.subarray(0, newline));
        if (when !== undefined && when >= (fromNs as bigint)) skipping = false;
        else from = chunkStart + chunk.indexOf(NEWLINE, Math.max(from, chunkStart) - chunkStart) + 1;
      }
      if (from < linesEnd) {
        if (from < chunkStart) await copyRange(handle, from, chunkStart, (spare ??= Buffer.allocUnsafe(CHUNK)), sink);
        await sink.write(chunk.subarray(Math.max(from, chunkStart) - chunkStart, last + 1));
      }
      shipped = linesEnd;
    }
    if (options.toEnd && shipped < position && !skipping) {
      // A rotated file gets no more lines: ship its unfinished last one, closed with a newline.
      await copyRange(handle, shipped, position, buffer, sink);
      await sink.write(Buffer.from('\n'));
      shipped = position;
    }
    return options.toEnd ? Math.max(shipped, size) : shipped;
  } finally {
    await handle.close();
  }
}

/**
 * Write the alert lines not shipped before into `sink` and return the new cursor (null when there
 * is no alert log at all). Without a cursor (first run) the lines stamped at or after `firstRunFromMs`.
 */
export async function shipAlertLines(
  file: string,
  cursor: AlertCursor | null,
  firstRunFromMs: number,
  sink: AlertSink,
): Promise<AlertCursor | null> {
  const current = await statOrNull(file);
  if (cursor === null) {
    if (!current) return null;
    const offset = await copyLines(file, 0, Number(current.size), sink, { fromMs: firstRunFromMs });
    return { inode: current.ino.toString(), offset };
  }
  if (current && current.ino.toString() === cursor.inode) {
    // Same file; a smaller size means it was truncated in place, so everything in it is new.
    const start = Number(current.size) < cursor.offset ? 0 : cursor.offset;
    return { inode: cursor.inode, offset: await copyLines(file, start, Number(current.size), sink) };
  }
  // Rotated (`log` → `log.1` → `log.2` ...): finish the old inode from the offset, then any whole
  // generation rotated after it, then the new file from its start. Rotated files are complete.
  let next: AlertCursor = cursor;
  const generations: string[] = [];
  for (let n = 1; n <= MAX_GENERATIONS; n++) {
    const rotated = await statOrNull(`${file}.${n}`);
    if (!rotated) break;
    if (rotated.ino.toString() === cursor.inode) {
      const offset = await copyLines(
        `${file}.${n}`,
        Math.min(cursor.offset, Number(rotated.size)),
        Number(rotated.size),
        sink,
        { toEnd: true },
      );
      next = { inode: cursor.inode, offset };
      for (const newer of generations.reverse()) await copyLines(newer, 0, Infinity, sink, { toEnd: true });
      break;
    }
    generations.push(`${file}.${n}`);
  }
  if (!current) return next;
  return { inode: current.ino.toString(), offset: await copyLines(file, 0, Number(current.size), sink) };
}

/** How many bytes are waiting to be shipped (for `--dry-run`); an estimate across a rotation. */
export async function pendingAlertBytes(file: string, cursor: AlertCursor | null): Promise<number> {
  const current = await statOrNull(file);
  if (!current) return 0;
  if (cursor && current.ino.toString() === cursor.inode && Number(current.size) >= cursor.offset) {
    return Number(current.size) - cursor.offset;
  }
  return Number(current.size);
}
