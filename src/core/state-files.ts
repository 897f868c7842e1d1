/**
 * Private state files shared by the tools: JSON written atomically (temp file + rename, 0600) in
 * 0700 directories, and a pid lock file. Corrupt files are reported to the caller, never thrown.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describeError, MizualError } from './errors.js';

export type JsonStateRead =
  { status: 'missing' } | { status: 'ok'; data: unknown } | { status: 'corrupt'; reason: string };

/** Create a directory (and missing parents) readable only by its owner; an existing one is left as it is. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new MizualError(`cannot create directory ${dir}: ${describeError(err)}`, undefined, { cause: err });
  }
}

/** Read a JSON state file: missing, parsed, or corrupt with the reason (unreadable or invalid JSON). */
export async function readJsonState(file: string): Promise<JsonStateRead> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'corrupt', reason: describeError(err) };
  }
  try {
    return { status: 'ok', data: JSON.parse(text) as unknown };
  } catch (err) {
    return { status: 'corrupt', reason: `invalid JSON (${describeError(err)})` };
  }
}

/**
 * Write JSON so a reader (or a crash) sees either the old or the new document, never half of one:
 * a private temp file in the same directory, fsync, then rename over the target.
 */
export async function writeJsonState(file: string, data: unknown): Promise<void> {
  await ensurePrivateDir(path.dirname(file));
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const handle = await fsp.open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(data, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, file);
  } catch (err) {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw new MizualError(`cannot write state file ${file}: ${describeError(err)}`, undefined, { cause: err });
  }
}

export interface HeldLock {
  path: string;
  /** Remove the lock file (only if it is still ours). */
  release: () => Promise<void>;
}

/**
 * Take a lock file holding our pid. Returns null with the holder's pid when a live process holds it;
 * a lock left by a dead process (crash, reboot) is taken over.
 */
export async function acquireLock(file: string): Promise<HeldLock | { heldBy: number | null }> {
  await ensurePrivateDir(path.dirname(file));
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await fsp.open(file, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return {
        path: file,
        release: async () => {
          const holder = await readLockPid(file);
          if (holder === process.pid) await fsp.rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new MizualError(`cannot create lock ${file}: ${describeError(err)}`, undefined, { cause: err });
      }
    }
    const holder = await readLockPid(file);
    if (holder !== null && isAlive(holder)) return { heldBy: holder };
    // No pid yet may mean another run created the file a moment ago and is writing it.
    if (holder === null && (await ageMs(file)) < 5_000) return { heldBy: null };
    // Stale (dead pid) or half-written: rename it away first so two runs cannot both delete a fresh lock.
    const stale = `${file}.stale-${process.pid}`;
    await fsp
      .rename(file, stale)
      .then(() => fsp.rm(stale, { force: true }))
      .catch(() => undefined);
  }
  return { heldBy: await readLockPid(file) };
}

async function readLockPid(file: string): Promise<number | null> {
  try {
    const pid = Number((await fsp.readFile(file, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

async function ageMs(file: string): Promise<number> {
  try {
    return Date.now() - (await fsp.stat(file)).mtimeMs;
  } catch {
    return Infinity;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
