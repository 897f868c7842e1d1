/**
 * Private state files shared by the tools: JSON written atomically (temp file + rename, 0600) in
 * 0700 directories. Corrupt files are reported to the caller, never thrown.
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
  try {
    await writeFileAtomic(file, `${JSON.stringify(data, null, 2)}\n`, 0o600);
  } catch (err) {
    throw new MizualError(`cannot write state file ${file}: ${describeError(err)}`, undefined, { cause: err });
  }
}

/**
 * Replace `file` with `content` atomically: a temp file of this mode beside it (its name does not end
 * like the target's, so a collector globbing `*.prom` never reads it), fsync, rename. The directory
 * must exist; a failure removes the temp file and rethrows.
 */
export async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const handle = await fsp.open(temp, 'wx', mode);
    try {
      // open()'s mode is filtered by the umask; a collector file must be readable as asked.
      await handle.chmod(mode);
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, file);
  } catch (err) {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}
