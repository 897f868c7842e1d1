/**
 * Ship every line appended to the alert log exactly once. Timestamps alone cannot do it (a line
 * stamped with a whole second just after a window closed would be lost), so the shipper follows the
 * file by inode and the byte offset after the last complete line it shipped, and after a rotation
 * (`log` renamed to `log.1`) finishes the old inode before reading the new file from its start.
 */
import { promises as fsp, type BigIntStats } from 'node:fs';
import type { AlertCursor } from '../core/ship-state.js';
import { msToNano, parseLeadingTime } from '../core/time.js';

export interface AlertSink {
  write(data: Buffer): Promise<void>;
}

const CHUNK = 256 * 1024;
const MAX_GENERATIONS = 9;
const NEWLINE = 0x0a;

async function statOrNull(file: string): Promise<BigIntStats | null> {
  try {
    return await fsp.stat(file, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Copy `[start, size)` of a file to the sink, stopping after the last newline unless `toEnd`.
 * With `fromMs`, skips lines before the first one stamped at or after it. Returns the offset reached.
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
    let position = start;
    let shipped = start;
    let carry = Buffer.alloc(0);
    let skipping = options.fromMs !== undefined;
    while (position < size) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size - position));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      let data =
        carry.length > 0 ? Buffer.concat([carry, buffer.subarray(0, bytesRead)]) : buffer.subarray(0, bytesRead);
      const lastNewline = data.lastIndexOf(NEWLINE);
      if (lastNewline === -1) {
        carry = data;
        continue;
      }
      carry = data.subarray(lastNewline + 1);
      data = data.subarray(0, lastNewline + 1);
      if (skipping) {
        // First run: drop whole lines until one is stamped inside the window; later lines all go.
        let lineStart = 0;
        while (lineStart < data.length) {
          const end = data.indexOf(NEWLINE, lineStart);
          const when = parseLeadingTime(data.subarray(lineStart, Math.min(end, lineStart + 64)));
          if (when !== undefined && when >= msToNano(options.fromMs as number)) break;
          lineStart = end + 1;
        }
        shipped += lineStart;
        data = data.subarray(lineStart);
        skipping = data.length === 0;
      }
      await sink.write(data);
      shipped += data.length;
    }
    if (options.toEnd && carry.length > 0 && !skipping) {
      // A rotated file gets no more lines: ship its unfinished last one, closed with a newline.
      await sink.write(Buffer.concat([carry, Buffer.from('\n')]));
      shipped += carry.length;
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
