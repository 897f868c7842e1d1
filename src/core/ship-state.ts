/**
 * mizual-ship-logs' state in MIZUAL_STATE_DIR: the checkpoints (`ship-state.json`, written atomically)
 * and the run lock (`ship.lock`). mizual-alerts reads `lastUploadAt` from the state to warn when
 * shipping stalls, so that field keeps its name.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describeError, MizualError } from './errors.js';
import { ensurePrivateDir, readJsonState, writeJsonState } from './state-files.js';

/** Where shipping stopped: the file's inode (as text, it can exceed 2^53) and a byte offset. */
export interface AlertCursor {
  inode: string;
  offset: number;
}

export const STATE_FILE = 'ship-state.json';
export const LOCK_FILE = 'ship.lock';

export interface ContainerCheckpoint {
  containerId: string;
  /** Inclusive end of the last export (RFC 3339, nine fraction digits). */
  until: string;
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
}

export function emptyShipState(): ShipState {
  return { version: 1, containers: {}, alertLog: null, pending: [], lastUploadAt: null, lastSuccessAt: null };
}

/** Read the state; a corrupt file stops the run (guessing would re-ship or skip logs). */
export async function readShipState(stateDir: string): Promise<ShipState> {
  const file = path.join(stateDir, STATE_FILE);
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
  await writeJsonState(path.join(stateDir, STATE_FILE), state);
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

/** A process's start time (clock ticks since boot) from /proc, or null when it does not exist. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

export interface ShipLock {
  path: string;
  /** A note when a stale lock was taken over. */
  takenOver: string | undefined;
  /** Remove the lock if it is still ours (synchronous, so signal handlers can call it). */
  release(): void;
}

/**
 * Take `<stateDir>/ship.lock` (O_EXCL, 0600, holding pid and process start time). A lock whose
 * process is gone, or whose pid now belongs to another process, is taken over; a live one is an error.
 */
export async function acquireShipLock(stateDir: string): Promise<ShipLock> {
  await ensurePrivateDir(stateDir);
  const file = path.join(stateDir, LOCK_FILE);
  const mine = `${process.pid} ${processStartTime(process.pid) ?? '0'}\n`;
  let takenOver: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, mine);
      closeSync(fd);
      return {
        path: file,
        takenOver,
        release: () => {
          try {
            if (readFileSync(file, 'utf8') === mine) rmSync(file, { force: true });
          } catch {
            // Already gone.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new MizualError(`cannot create lock ${file}: ${describeError(err)}`);
      }
    }
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // Released in between: try again.
    }
    const [pidText, started] = text.trim().split(/\s+/);
    const pid = Number(pidText);
    const fresh = Date.now() - ((await fsp.stat(file).catch(() => null))?.mtimeMs ?? 0) < 2_000;
    if (!Number.isInteger(pid) || pid <= 0) {
      // Being written right now by another run, or garbage left by a crash.
      if (fresh) throw new MizualError(`another mizual-ship-logs run is starting (lock ${file})`);
    } else {
      const now = processStartTime(pid);
      if (now !== null && (started === undefined || started === now || started === '0')) {
        throw new MizualError(`another mizual-ship-logs run (pid ${pid}) holds ${file}`);
      }
    }
    takenOver = `took over the lock ${file} left by pid ${pidText || '?'}, which is no longer running`;
    // Rename first, so two runs cannot both remove a lock a third one just created.
    const stale = `${file}.stale-${process.pid}`;
    await fsp.rename(file, stale).catch(() => undefined);
    await fsp.rm(stale, { force: true });
  }
  throw new MizualError(`cannot take the lock ${file}`);
}
