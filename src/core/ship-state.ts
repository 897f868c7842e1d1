/**
 * mizual-ship-logs' state in MIZUAL_STATE_DIR: the checkpoints (`ship-state.json`, written atomically)
 * and the run lock (`ship.lock`). mizual-alerts reads `lastUploadAt` from the state to warn when
 * shipping stalls, so that field keeps its name.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { MizualError } from './errors.js';
import { acquireLock, type Lock } from './lock.js';
import { readJsonState, writeJsonState } from './state-files.js';

/** Where shipping stopped: the file's inode (as text, it can exceed 2^53) and a byte offset. */
export interface AlertCursor {
  inode: string;
  offset: number;
}

export const STATE_FILE = 'ship-state.json';
export const LOCK_FILE = 'ship.lock';

/** Where reading a json-file log stopped: the file (by identity, not by name) and the byte offset. */
export interface FilePosition {
  /** Device and inode as decimal text (they can exceed 2^53). */
  dev: string;
  ino: string;
  /** sha256 prefix of the file's first line: inodes are reused within seconds. Null while it had none. */
  fingerprint: string | null;
  /** The first line's time (RFC 3339, nine fraction digits), to order generations; null with no line. */
  firstTime: string | null;
  /** Just after the last complete message shipped. */
  offset: number;
  /**
   * The fingerprint of the nearest older generation with a first line, or null when there was none
   * (absent in older states): a file with no line yet is placed by its predecessor, not by its inode.
   */
  after?: string | null;
}

export interface ContainerCheckpoint {
  containerId: string;
  /** Inclusive end of the last export (RFC 3339, nine fraction digits): the last line shipped, or the API window's end. */
  until: string;
  /** File source: the exact position; absent when the last export went through the Engine API. */
  file?: FilePosition;
  /** The container had stopped and its log was shipped to the end (a later removal loses nothing). */
  complete?: boolean;
  /**
   * Engine API: the last line shipped (its timestamp, length and a hash of its start). The lines after
   * it in the log are the new ones, even those a clock stepped back stamped earlier.
   */
  last?: { stamp: string; length: number; hash: string };
}

/** The wall clock against the time since boot, at a commit: tells by how much the clock stepped back since. */
export interface ClockSample {
  wallMs: number;
  uptimeMs: number;
  bootId: string;
}

export interface ShipState {
  version: 1;
  /** By short name. */
  containers: Record<string, ContainerCheckpoint>;
  alertLog: AlertCursor | null;
  /** Archive names written but not yet uploaded, oldest first. */
  pending: string[];
  lastUploadAt: string | null;
  lastSuccessAt: string | null;
  /**
   * Held containers whose lines are in a committed archive: their hold is let go right after the
   * commit, and if a crash came first, at the next start, never read again.
   */
  heldShipped?: string[];
  /** The clocks at the last commit (absent in older states). */
  clock?: ClockSample;
  /** What the shipped logs cost, per container, and their top line shapes (absent in older states). */
  usage?: ShipUsage;
}

/** One line shape (digits, hex, UUIDs and quoted values masked; the first 120 characters) and its volume. */
export interface ShapeCount {
  shape: string;
  /** Bytes of the lines of this shape, as shipped (Docker's timestamp included). */
  bytes: number;
  lines: number;
}

/** A container's line shapes since `since`: the totals, and the top shapes by bytes. */
export interface PatternTable {
  since: string;
  bytes: number;
  lines: number;
  shapes: ShapeCount[];
}

/** What the shipper records of cost: mizual-alerts' `cost` check and `--prometheus` read it, no bucket listing. */
export interface ShipUsage {
  /** When recording began (the first archive with it). */
  since: string;
  /** Compressed archive bytes per UTC day (the archive's date) and entry label, kept for the retention. */
  days: Record<string, Record<string, number>>;
  /** Per-entry compressed bytes of archives not uploaded yet: they go up with the archive as metadata. */
  archives: Record<string, Record<string, number>>;
  /** Line shapes per container short name. */
  patterns: Record<string, PatternTable>;
  /** When the patterns were last stored in the bucket. */
  patternsUploadedAt?: string;
  /** The shipper's own cost per UTC day (its CPU seconds, runs and peak RSS), kept for a week. */
  self?: Record<string, { cpuSeconds: number; runs: number; peakRssBytes: number }>;
}

/** The shipper's cost record, or null when there is none (or the state cannot be read): lenient, for readers. */
export async function readShipUsage(stateDir: string): Promise<ShipUsage | null> {
  const read = await readJsonState(shipStateFile(stateDir));
  if (read.status !== 'ok') return null;
  const usage = (read.data as { usage?: unknown } | null)?.usage as Partial<ShipUsage> | undefined;
  if (!usage || typeof usage !== 'object' || typeof usage.days !== 'object' || usage.days === null) return null;
  return { since: String(usage.since ?? ''), archives: {}, patterns: {}, ...usage } as ShipUsage;
}

export function emptyShipState(): ShipState {
  return { version: 1, containers: {}, alertLog: null, pending: [], lastUploadAt: null, lastSuccessAt: null };
}

/** Where a state directory keeps the shipper's state. */
export function shipStateFile(stateDir: string): string {
  return path.join(stateDir, STATE_FILE);
}

export type LastUploadRead =
  | { status: 'missing'; file: string }
  | { status: 'corrupt'; file: string; reason: string }
  /** `lastUploadAt` in ms since the epoch, or null when the shipper never uploaded. */
  | { status: 'ok'; file: string; lastUploadAtMs: number | null };

/**
 * What mizual-alerts needs of the shipper's state: when it last uploaded. Lenient about the rest of
 * the document (another version's fields), since only this one field is read.
 */
export async function readLastUpload(stateDir: string): Promise<LastUploadRead> {
  const file = shipStateFile(stateDir);
  const read = await readJsonState(file);
  if (read.status !== 'ok') return { ...read, file };
  const last = (read.data as { lastUploadAt?: unknown } | null)?.lastUploadAt;
  const at = typeof last === 'string' ? Date.parse(last) : NaN;
  return { status: 'ok', file, lastUploadAtMs: Number.isNaN(at) ? null : at };
}

/** Read the state; a corrupt file stops the run (guessing would re-ship or skip logs). */
export async function readShipState(stateDir: string): Promise<ShipState> {
  const file = shipStateFile(stateDir);
  const read = await readJsonState(file);
  if (read.status === 'missing') return emptyShipState();
  const data = read.status === 'ok' ? (read.data as Partial<ShipState> | null) : null;
  if (!data || typeof data !== 'object' || data.version !== 1 || !Array.isArray(data.pending)) {
    const reason = read.status === 'corrupt' ? read.reason : 'unexpected content';
    throw new MizualError(
      `state file ${file} is unreadable (${reason}); move it aside to start over from the last --window`,
    );
  }
  return { ...emptyShipState(), ...data, containers: { ...(data.containers ?? {}) } };
}

/** Write the state atomically (temp file, fsync, rename) and fsync the directory. */
export async function writeShipState(stateDir: string, state: ShipState): Promise<void> {
  await writeJsonState(shipStateFile(stateDir), state);
  await syncDir(stateDir);
}

/** fsync a directory so a rename in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Take `<stateDir>/ship.lock` (see core/lock.ts); a live holder is an error naming it, a stale lock
 * is taken over.
 */
export async function acquireShipLock(stateDir: string): Promise<Lock> {
  const file = path.join(stateDir, LOCK_FILE);
  const lock = await acquireLock(file);
  if ('release' in lock) return lock;
  if (lock.heldBy === null) throw new MizualError(`another mizual-ship-logs run is starting (lock ${file})`);
  throw new MizualError(`another mizual-ship-logs run (pid ${lock.heldBy}) holds ${file}`);
}
