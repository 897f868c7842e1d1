/**
 * The file source: a container's json-file log read directly, by byte offset, instead of through the
 * Engine API (dockerd decodes every line and flushes a frame per line: ten times the CPU). Reading
 * resumes at an exact position (file identity + offset after the last complete message), follows
 * rotation by identity, and consumes only complete lines: Docker never fsyncs, so a reader sees
 * half-written entries at the end of the file.
 */
import type { FileHandle } from 'node:fs/promises';
import { describeError } from '../core/errors.js';
import type { FilePosition } from '../core/ship-state.js';
import { formatNanoTime } from '../core/time.js';
import { JsonFileCopier, readFirstLine, readWholeLines } from '../docker/json-file.js';
import { listGenerations, openGeneration } from '../docker/log-files.js';
import type { EntrySpool } from './export.js';
import { type HeldFile } from '../docker/held-logs.js';

/** A file that may hold some of a container's lines: a generation in its directory or a held link. */
export interface LogCandidate {
  path: string;
  compressed: boolean;
  dev: string;
  ino: string;
  fingerprint: string | null;
  firstTime: bigint | null;
  /** The container's live file, still being written while it runs. */
  live: boolean;
  /** The hold's links to this file (or to its compressed or uncompressed twin). */
  heldPaths: string[];
  /** Its generation in the container's directory (0 live, N for `.N`), or null for a held file only. */
  index: number | null;
  /** Its place in the hold's order of linking, or null. */
  seq: number | null;
  /**
   * The file, opened when it was listed: a path can name another file a moment later (Docker renames
   * the live file to `.1` when it rotates), an open handle follows the file. Closed by closeCandidates.
   */
  handle: FileHandle;
}

/** An unfinished message is held back at most this long (then shipped as it is). */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/**
 * Every file of one container's log, each once (a held link and the generation it links to are one
 * file; a `.N.gz` and the `.N` it was compressed from, or its held link, are one file), oldest first.
 */
export async function gatherCandidates(
  logPath: string | null,
  held: HeldFile[],
  unreadable: string[] = [],
): Promise<LogCandidate[]> {
  type Raw = Omit<LogCandidate, 'fingerprint' | 'firstTime' | 'heldPaths' | 'handle'> & { held: boolean };
  const raw: Raw[] = [];
  if (logPath) {
    for (const g of await listGenerations(logPath)) {
      const base = { path: g.path, compressed: g.compressed, dev: g.dev, ino: g.ino, live: g.index === 0 };
      raw.push({ ...base, held: false, index: g.index, seq: null });
    }
  }
  for (const f of held) {
    raw.push({
      path: f.path,
      compressed: f.compressed,
      dev: f.dev,
      ino: f.ino,
      live: false,
      held: true,
      index: null,
      seq: f.seq,
    });
  }
  const byInode = new Map<string, LogCandidate>();
  const opened: FileHandle[] = [];
  try {
    for (const { held: isHeld, ...r } of raw) {
      const seen = byInode.get(`${r.dev}:${r.ino}`);
      if (seen) {
        // The container's own path is read (listed first, it is still written to); the link is kept for release.
        if (isHeld) seen.heldPaths.push(r.path);
        seen.seq ??= r.seq;
        continue;
      }
      const handle = await openGeneration(r);
      if (!handle) continue; // Gone between the listing and the open: rotated away, or the container removed.
      opened.push(handle);
      const info = await handle.stat({ bigint: true });
      const identity = { dev: info.dev.toString(), ino: info.ino.toString() };
      const key = `${identity.dev}:${identity.ino}`;
      const twin = byInode.get(key);
      if (twin) {
        // The path was renamed onto a file already listed (a rotation in between).
        if (isHeld) twin.heldPaths.push(r.path);
        continue;
      }
      let first: Awaited<ReturnType<typeof readFirstLine>>;
      try {
        first = await readFirstLine(handle, r.compressed);
      } catch (err) {
        // A generation cut short by a host crash (a .gz Docker never finished): the others still ship.
        unreadable.push(`${r.path}: ${describeError(err)}`);
        continue;
      }
      byInode.set(key, {
        ...r,
        ...identity,
        heldPaths: isHeld ? [r.path] : [],
        fingerprint: first.fingerprint,
        firstTime: first.time,
        handle,
      });
    }
  } catch (err) {
    await Promise.all(opened.map((h) => h.close().catch(() => undefined)));
    throw err;
  }
  const kept = new Set([...byInode.values()].map((c) => c.handle));
  await Promise.all(opened.filter((h) => !kept.has(h)).map((h) => h.close().catch(() => undefined)));
  const byContent = new Map<string, LogCandidate>();
  const files: LogCandidate[] = [];
  for (const c of byInode.values()) {
    if (c.fingerprint === null) {
      files.push(c);
      continue;
    }
    const twin = byContent.get(c.fingerprint);
    if (!twin) {
      byContent.set(c.fingerprint, c);
      files.push(c);
    } else if (twin.compressed && !c.compressed) {
      // The same generation twice (a .gz and its uncompressed original): read the original, in its place.
      c.heldPaths.push(...twin.heldPaths);
      c.index ??= twin.index;
      c.seq ??= twin.seq;
      files[files.indexOf(twin)] = c;
      byContent.set(c.fingerprint, c);
      await twin.handle.close().catch(() => undefined);
    } else {
      twin.heldPaths.push(...c.heldPaths);
      twin.index ??= c.index;
      twin.seq ??= c.seq;
      await c.handle.close().catch(() => undefined);
    }
  }
  return files.sort(compareAge);
}

/**
 * Oldest first, by what a clock step cannot change: the live file is the newest; files still in the
 * directory follow the rotation chain (a higher `.N` is older); a file only the hold keeps was rotated
 * out of the directory, so it is older than all of them, and held files keep the order they were linked
 * in. Only holds from before that order was kept fall back to the first lines' times.
 */
function compareAge(a: LogCandidate, b: LogCandidate): number {
  if (a.live !== b.live) return a.live ? 1 : -1;
  if (a.index !== null && b.index !== null) return b.index - a.index;
  if (a.index !== null || b.index !== null) return a.index === null ? -1 : 1;
  if (a.seq !== null && b.seq !== null) return a.seq - b.seq;
  return compareTimes(a.firstTime, b.firstTime);
}

/** Close the handles gatherCandidates opened. */
export async function closeCandidates(candidates: LogCandidate[]): Promise<void> {
  await Promise.all(candidates.map((c) => c.handle.close().catch(() => undefined)));
}

function compareTimes(a: bigint | null, b: bigint | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/**
 * Is this candidate the file a checkpoint names? By content: a file that had a first line is the one
 * with that line (inodes are reused within seconds). A file that had none (empty, just rotated) is not
 * matched here at all: see planSegments.
 */
export function isPositionFile(position: FilePosition, c: LogCandidate): boolean {
  if (position.fingerprint !== null) return position.fingerprint === c.fingerprint;
  return position.dev === c.dev && position.ino === c.ino;
}

export interface Segment {
  candidate: LogCandidate;
  from: number;
  /** The fingerprint of the nearest older file with a first line (what places an empty file later). */
  after: string | null;
}

export interface SegmentPlan {
  segments: Segment[];
  /** The checkpoint's file is gone: lines after its offset could not be read. */
  lost: boolean;
}

/** What to read: from the checkpoint's file and offset on, or (no position) every file. */
export function planSegments(candidates: LogCandidate[], position: FilePosition | undefined): SegmentPlan {
  const from = (start: number, offset: (c: LogCandidate) => number): Segment[] =>
    candidates.slice(start).map((candidate, i) => ({
      candidate,
      from: offset(candidate),
      after: predecessor(candidates, start + i),
    }));
  if (!position) return { segments: from(0, () => 0), lost: false };
  if (position.fingerprint === null && position.after !== undefined) {
    // The position was on a file with no line yet: by now it may be gone and its inode reused by a
    // newer file, so the inode alone would skip the files between. Everything after the file that
    // preceded it is read (from its start: nothing of it was shipped); with that file gone, everything.
    const before = position.after === null ? -1 : candidates.findIndex((c) => c.fingerprint === position.after);
    return {
      segments: from(before + 1, (c) => (c.dev === position.dev && c.ino === position.ino ? position.offset : 0)),
      lost: false,
    };
  }
  const at = candidates.findIndex((c) => isPositionFile(position, c));
  if (at !== -1) return { segments: from(at, (c) => (c === candidates[at] ? position.offset : 0)), lost: false };
  // The file was deleted (rotated out, or removed with the container) before it was read to the end.
  // What is still in the container's directory is newer (rotation deletes the oldest first); a file only
  // the hold keeps is placed by its first line's time.
  const after = position.firstTime;
  const newer = candidates.filter(
    (c) => c.index !== null || after === null || c.firstTime === null || formatNanoTime(c.firstTime) > after,
  );
  return {
    segments: newer.map((candidate) => ({
      candidate,
      from: 0,
      after: predecessor(candidates, candidates.indexOf(candidate)),
    })),
    lost: true,
  };
}

/** The fingerprint of the nearest candidate before `index` that has a first line. */
function predecessor(candidates: LogCandidate[], index: number): string | null {
  for (let i = index - 1; i >= 0; i--) {
    const fingerprint = candidates[i]?.fingerprint;
    if (fingerprint) return fingerprint;
  }
  return null;
}

export interface FileExport {
  /** Where the next run continues; null when nothing was read and no file exists. */
  position: FilePosition | null;
  /** The time of the last line shipped (9 fraction digits), or null when none was. */
  lastStamp: string | null;
  /** Lines that were not json-file entries (skipped, e.g. a NUL-filled tail after a host crash). */
  unreadable: number;
  /** Files that could not be read to their end (a corrupt .gz), with the reason. */
  unreadableFiles: string[];
}

/**
 * Copy the segments' lines, converted to the archive's format, into the spool. With `complete` (the
 * container has stopped or is gone) everything is shipped, a final piece without a newline included;
 * otherwise a message whose last piece has not been written yet waits for the next run.
 */
export async function exportSegments(
  segments: Segment[],
  spool: EntrySpool,
  options: { complete: boolean; skipBefore: bigint | null },
): Promise<FileExport> {
  const copier = new JsonFileCopier(options.skipBefore);
  /** Output of the open message, held back until it closes (bounded by one message). */
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let position: FilePosition | null = null;
  let last: FilePosition | null = null;
  let unreadable = 0;
  const unreadableFiles: string[] = [];
  for (const { candidate, from, after } of segments) {
    const identity = {
      dev: candidate.dev,
      ino: candidate.ino,
      fingerprint: candidate.fingerprint,
      firstTime: candidate.firstTime === null ? null : formatNanoTime(candidate.firstTime),
      after,
    };
    // A file that is shorter than the checkpoint's offset was truncated: read it from its start.
    const start = !candidate.compressed && from > Number((await candidate.handle.stat()).size) ? 0 : from;
    const onChunk = async (chunk: Buffer, chunkStart: number, end: number): Promise<void> => {
      const result = copier.copy(chunk, 0, end);
      unreadable += result.unreadable;
      if (result.boundaryOut >= 0) {
        for (const p of pending) await spool.write(p);
        pending = [];
        pendingBytes = 0;
        await spool.write(result.out.subarray(0, result.boundaryOut));
        position = { ...identity, offset: chunkStart + result.boundaryIn };
      }
      const rest = result.out.subarray(Math.max(0, result.boundaryOut));
      if (rest.length > 0) {
        pending.push(Buffer.from(rest));
        pendingBytes += rest.length;
      }
      if (pendingBytes > MAX_PENDING_BYTES) {
        // A message that never ends (a progress bar without newlines): ship what there is, and let
        // the next run's pieces start a new line, rather than hold it in memory without bound.
        for (const p of pending) await spool.write(p);
        pending = [];
        pendingBytes = 0;
        position = { ...identity, offset: chunkStart + end };
      }
    };
    let readTo: number;
    try {
      readTo = await readWholeLines(candidate.handle, start, candidate.compressed, onChunk);
    } catch (err) {
      // A truncated or corrupt .gz: what it held up to the damage is shipped, the rest is a gap.
      if (!candidate.compressed || !isZlibError(err)) throw err;
      unreadableFiles.push(`${candidate.path}: ${describeError(err)}`);
      continue;
    }
    // With no message open, everything up to the last complete line of this file is consumed (also
    // when that is nothing: an empty live file is where the next run starts).
    if (!copier.open) position = { ...identity, offset: readTo };
    last = { ...identity, offset: readTo };
  }
  if (options.complete) {
    for (const p of pending) await spool.write(p);
    pending = [];
    if (last) position = last;
  }
  return {
    position,
    lastStamp: options.complete ? copier.lastLineStamp : copier.lastStamp,
    unreadable,
    unreadableFiles,
  };
}

function isZlibError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return (
    code.startsWith('Z_') ||
    /unexpected end of file|incorrect header check|invalid/i.test(String((err as Error).message))
  );
}
