/**
 * The alert log: one line per change of state, appended, rotated by renaming. The shipper follows
 * the file by inode and byte offset and looks for the old inode in `<log>.1` after a rotation, so
 * the log is never truncated or copied: `log` becomes `log.1` and a new `log` is started.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describeError, MizualError, oneLine, UsageError } from '../core/errors.js';
import { ensurePrivateDir } from '../core/state-files.js';
import { nanoToMs, parseLeadingTime } from '../core/time.js';

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

export interface AlertLogEvent {
  /** Epoch ms of the line's leading time. */
  timeMs: number;
  severity: AlertSeverity;
  check: string;
  message: string;
}

const ALERT_BODY = /^\s*(WARNING|CRITICAL|RESOLVED)\b:?\s+(?:([^\s:]+(?::[^\s:]+)*):\s+)?(.*)$/;

/**
 * Read one alert log line back: `formatAlertLine`'s format, and the old shell scripts' (a `date`
 * stamp in brackets, then the severity); null for a line that is not an alert.
 */
export function parseAlertLine(line: string): AlertLogEvent | null {
  const ns = parseLeadingTime(line);
  if (ns === undefined) return null;
  const rest = line.replace(/^\S+(?: \S+){0,6}?(?:\]|Z|UTC)\s+/, '');
  const m = ALERT_BODY.exec(rest);
  if (!m) return null;
  return { timeMs: nanoToMs(ns), severity: m[1] as AlertSeverity, check: m[2] ?? 'alert', message: m[3] ?? '' };
}

/** The alert events in [sinceMs, untilMs] from the log and its rotated generations (`log.5` … `log`), streamed. */
export async function readAlertEvents(
  file: string,
  sinceMs: number,
  untilMs: number,
  generations: number = DEFAULT_LOG_GENERATIONS,
): Promise<AlertLogEvent[]> {
  // Loaded here, not at start-up: every mizual-alerts run loads this module, only --history reads the log.
  const { createInterface } = await import('node:readline');
  const events: AlertLogEvent[] = [];
  const files = [...Array.from({ length: generations }, (_, i) => `${file}.${generations - i}`), file];
  for (const f of files) {
    let lines: import('node:readline').Interface;
    try {
      const handle = await fsp.open(f, 'r');
      lines = createInterface({ input: handle.createReadStream({ encoding: 'utf8' }), crlfDelay: Infinity });
    } catch {
      continue;
    }
    for await (const line of lines) {
      // A line past 4 KiB is not one we wrote; skip reading it as an alert.
      const e = line.length > 4096 ? null : parseAlertLine(line);
      if (e && e.timeMs >= sinceMs && e.timeMs <= untilMs) events.push(e);
    }
  }
  return events.sort((a, b) => a.timeMs - b.timeMs);
}
