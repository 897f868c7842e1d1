/**
 * The one run lock of every tool: a file created whole (hard link, atomic), 0600 in a 0700 directory, holding our pid and the
 * process start time from /proc. A lock is held only while that very process lives: a dead pid, or a
 * pid that now belongs to another process (pids are reused, low ones right after a reboot), is stale
 * and taken over. A lock written without a start time (older versions) counts as stale when the pid's
 * current process started after the lock file was written.
 */
import { createHash, randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeError, MizualError } from './errors.js';
import { ensurePrivateDir } from './state-files.js';

export interface Lock {
  path: string;
  /** A note when a stale lock was taken over. */
  takenOver: string | undefined;
  /** Remove the lock if it is still ours (synchronous, so signal handlers can call it). */
  release(): void;
}

/** Someone else holds the lock: its pid, or null while it is still being written. */
export interface LockHeld {
  heldBy: number | null;
}

/** A freshly created lock without a pid yet is another run starting, not a stale file. */
const STARTING_MS = 5_000;

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

/** When a process started, in ms since the epoch (boot time plus its start ticks at 100 Hz), or null. */
function processStartedAtMs(pid: number, ticks: string): number | null {
  try {
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
    // USER_HZ is 100 on every Linux architecture Docker runs on.
    return btime === undefined ? null : Number(btime) * 1000 + Number(ticks) * 10;
  } catch {
    return null;
  }
}

/** Is the lock `text`, written at `writtenAtMs`, still held by a live process? */
function liveHolder(text: string, writtenAtMs: number): boolean {
  const [pidText, started] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = processStartTime(pid);
  if (now === null) return false;
  if (started !== undefined && started !== '0') return started === now;
  // No start time recorded: the holder could only have written the file if it was already running.
  const startedAt = processStartedAtMs(pid, now);
  return startedAt === null || startedAt <= writtenAtMs + 1_000;
}

interface SeenLock {
  text: string;
  writtenAtMs: number;
  /** What this very file is: a replaced lock never has the same identity, even if its inode is reused. */
  identity: string;
}

/** The lock file as it is now, or null when there is none. */
function readLock(file: string): SeenLock | null {
  try {
    const text = readFileSync(file, 'utf8');
    const stat = statSync(file);
    const identity = createHash('sha256')
      .update(`${stat.dev}:${stat.ino}:${stat.mtimeMs}:${stat.size}\n${text}`)
      .digest('hex')
      .slice(0, 16);
    return { text, writtenAtMs: stat.mtimeMs, identity };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new MizualError(`cannot read lock ${file}: ${describeError(err)}`, undefined, { cause: err });
  }
}

/** Create `name` as a hard link to `source`: atomic, fails when `name` exists. */
function tryLink(source: string, name: string): boolean {
  try {
    linkSync(source, name);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new MizualError(`cannot create lock ${name}: ${describeError(err)}`, undefined, { cause: err });
  }
}

/**
 * Replace the stale lock `seen` with ours (`mine`, ready in `temp`). Only the process that creates the
 * takeover marker named after that very lock file may replace it, so of many runs finding the same
 * stale lock exactly one takes it; the others see the marker's live holder. A marker whose holder died
 * mid-takeover is passed by the next one in its chain. The winner checks, holding the marker, that the
 * lock is still the stale one it saw, and, after the rename, that the lock is its own.
 */
function takeOver(file: string, temp: string, mine: string, seen: SeenLock): 'won' | 'changed' | LockHeld {
  for (let generation = 0; generation < 100; generation++) {
    const marker = `${file}.takeover-${seen.identity}.${generation}`;
    if (!tryLink(temp, marker)) {
      const other = readLock(marker);
      if (other === null) return 'changed';
      if (liveHolder(other.text, other.writtenAtMs)) return { heldBy: Number(other.text.trim().split(/\s+/)[0]) };
      continue;
    }
    try {
      if (readLock(file)?.identity !== seen.identity) return 'changed';
      renameSync(temp, file);
      return readFileSync(file, 'utf8') === mine ? 'won' : 'changed';
    } finally {
      rmSync(marker, { force: true });
      for (let dead = 0; dead < generation; dead++)
        rmSync(`${file}.takeover-${seen.identity}.${dead}`, { force: true });
    }
  }
  throw new MizualError(`cannot take the lock ${file}: too many abandoned takeovers`);
}

/**
 * Take `file`, or say who holds it. The lock is created whole (a hard link to a file already holding
 * our pid), so no reader ever sees it half-written. A stale lock (see above) is taken over and says so
 * in `takenOver`.
 */
export async function acquireLock(file: string): Promise<Lock | LockHeld> {
  await ensurePrivateDir(path.dirname(file));
  const mine = `${process.pid} ${processStartTime(process.pid) ?? '0'}\n`;
  const temp = `${file}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  const held = (takenOver: string | undefined): Lock => ({
    path: file,
    takenOver,
    release: () => {
      try {
        if (readFileSync(file, 'utf8') === mine) rmSync(file, { force: true });
      } catch {
        // Already gone.
      }
    },
  });
  try {
    writeFileSync(temp, mine, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw new MizualError(`cannot create lock ${file}: ${describeError(err)}`, undefined, { cause: err });
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (tryLink(temp, file)) return held(undefined);
      const seen = readLock(file);
      if (seen === null) continue; // Released in between: try again.
      const pidText = seen.text.trim().split(/\s+/)[0] ?? '';
      // An older version wrote its pid after creating the file.
      if (!/^\d+$/.test(pidText) && Date.now() - seen.writtenAtMs < STARTING_MS) return { heldBy: null };
      if (liveHolder(seen.text, seen.writtenAtMs)) return { heldBy: Number(pidText) };
      const outcome = takeOver(file, temp, mine, seen);
      if (outcome === 'won') {
        return held(`took over the lock ${file} left by pid ${pidText || '?'}, which is no longer running`);
      }
      if (outcome !== 'changed') return outcome;
    }
  } finally {
    rmSync(temp, { force: true });
  }
  throw new MizualError(`cannot take the lock ${file}`);
}

/** Try for the lock until `waitMs` has passed (another run of a tool sharing a state file finishing first). */
export async function acquireLockWaiting(file: string, waitMs: number): Promise<Lock | LockHeld> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const lock = await acquireLock(file);
    if ('release' in lock || Date.now() > deadline) return lock;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
