/**
 * The alert log: one line per change of state, appended, rotated by renaming. The shipper follows
 * the file by inode and byte offset and looks for the old inode in `<log>.1` after a rotation, so
 * the log is never truncated or copied: `log` becomes `log.1` and a new `log` is started.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describeError, MizualError, oneLine, UsageError } from '../core/errors.js';
import { ensurePrivateDir } from '../core/state-files.js';

export type AlertSeverity = 'WARNING' | 'CRITICAL' | 'RESOLVED';

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_GENERATIONS = 5;

/** `2026-11-25T09:40:12Z WARNING memory: memory 91.2% used (threshold 85%)` (whole seconds, UTC). */
export function formatAlertLine(at: Date, severity: AlertSeverity, check: string, message: string): string {
  return `${formatLogTime(at)} ${severity} ${check}: ${oneLine(message)}`;
}

/** ISO 8601 UTC with whole seconds and a Z. */
export function formatLogTime(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Parse a size such as `10M`, `512K`, `1G` or plain bytes. */
export function parseSize(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  const factor = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match?.[2] ?? '').toLowerCase()];
  const value = match && factor ? Math.floor(Number(match[1]) * factor) : NaN;
  if (!Number.isFinite(value) || value < 1024) {
    throw new UsageError(`${what} must be a size of at least 1K such as 512K or 10M (got '${text}')`);
  }
  return value;
}

export interface AppendOptions {
  /** Rotate before appending when the log would grow past this many bytes. */
  maxBytes?: number;
  /** Numbered generations kept after rotation (`log.1` … `log.N`). */
  generations?: number;
}

/** Append lines to the alert log (created 0600, parent 0700 when missing); rotates first if it would grow too big. */
export async function appendAlertLines(
  file: string,
  lines: readonly string[],
  options: AppendOptions = {},
): Promise<{ rotated: boolean }> {
  if (lines.length === 0) return { rotated: false };
  const text = lines.map((line) => `${line}\n`).join('');
  await ensurePrivateDir(path.dirname(file));
  const size = await fileSize(file);
  const rotated = size > 0 && size + Buffer.byteLength(text) > (options.maxBytes ?? DEFAULT_LOG_MAX_BYTES);
  if (rotated) await rotateLog(file, options.generations ?? DEFAULT_LOG_GENERATIONS);
  try {
    // O_APPEND: a reader tailing the file (the shipper) never sees a line overwritten.
    await fsp.appendFile(file, text, { mode: 0o600 });
  } catch (err) {
    throw new MizualError(`cannot write alert log ${file}: ${describeError(err)}`, undefined, { cause: err });
  }
  return { rotated };
}

/** Shift `log.N-1 → log.N` … `log → log.1` by rename (the oldest generation is overwritten). */
export async function rotateLog(file: string, generations: number = DEFAULT_LOG_GENERATIONS): Promise<void> {
  const keep = Math.max(1, generations);
  try {
    for (let n = keep - 1; n >= 1; n--) {
      await fsp.rename(`${file}.${n}`, `${file}.${n + 1}`).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await fsp.rename(file, `${file}.1`);
  } catch (err) {
    throw new MizualError(`cannot rotate alert log ${file}: ${describeError(err)}`, undefined, { cause: err });
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).size;
  } catch {
    return 0;
  }
}
