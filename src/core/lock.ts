/**
 * The one run lock of every tool: `O_EXCL` file, 0600 in a 0700 directory, holding our pid and the
 * process start time from /proc. A lock is held only while that very process lives: a dead pid, or a
 * pid that now belongs to another process (pids are reused, low ones right after a reboot), is stale
 * and taken over. A lock written without a start time (older versions) counts as stale when the pid's
 * current process started after the lock file was written.
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
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

/** Take `file`, or say who holds it. A stale lock (see above) is taken over and says so in `takenOver`. */
export async function acquireLock(file: string): Promise<Lock | LockHeld> {
  await ensurePrivateDir(path.dirname(file));
  const mine = `${process.pid} ${processStartTime(process.pid) ?? '0'}\n`;
  let takenOver: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, mine);
      } finally {
        closeSync(fd);
      }
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
        throw new MizualError(`cannot create lock ${file}: ${describeError(err)}`, undefined, { cause: err });
      }
    }
    let text: string;
    let writtenAtMs: number;
    try {
      text = readFileSync(file, 'utf8');
      writtenAtMs = statSync(file).mtimeMs;
    } catch {
      continue; // Released in between: try again.
    }
    const pidText = text.trim().split(/\s+/)[0] ?? '';
    if (!/^\d+$/.test(pidText) && Date.now() - writtenAtMs < STARTING_MS) return { heldBy: null };
    if (liveHolder(text, writtenAtMs)) return { heldBy: Number(pidText) };
    takenOver = `took over the lock ${file} left by pid ${pidText || '?'}, which is no longer running`;
    // Rename first, so two runs cannot both remove a lock a third one just created.
    const stale = `${file}.stale-${process.pid}`;
    await fsp.rename(file, stale).catch(() => undefined);
    await fsp.rm(stale, { force: true });
  }
  throw new MizualError(`cannot take the lock ${file}`);
}
