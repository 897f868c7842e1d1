/**
 * The one store of samples: a segment file per UTC day in `<state dir>/history/`, each written whole and
 * atomically (0600 in a 0700 directory). A run reads the newest two segments (the forecasts need 24
 * hours), appends its sample to today's and rewrites only that one, so its cost does not grow with
 * MIZUAL_HISTORY_DAYS. The trend checks of mizual-alerts read a view of it (`trendsFromHistory`).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, readJsonState, writeFileAtomic } from '../core/state-files.js';
import { DISK_WINDOW_MS, emptyTrends, HOUR_MS, type Trends } from '../core/trends.js';
import {
  HISTORY_DIR,
  HISTORY_FORMAT,
  HISTORY_VERSION,
  decodeValue,
  encodeValue,
  seriesKey,
  type RunMemory,
  type SampleValues,
  type Segment,
  type StoredEvent,
} from './model.js';

const DAY_RE = /^(\d{4}-\d{2}-\d{2})\.json$/;
const DAY_MS = 86_400_000;

/** The UTC day of an epoch ms. */
export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export function emptySegment(day: string): Segment {
  return { format: HISTORY_FORMAT, version: HISTORY_VERSION, day, t: [], s: {}, e: [], last: null };
}

const isNum = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);

/** Validate a stored segment leniently: what is malformed is dropped; a newer writer's extra fields are ignored. */
export function toSegment(raw: unknown, day: string): Segment | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  if (r['format'] !== HISTORY_FORMAT || !Array.isArray(r['t'])) return null;
  const t = r['t'] as unknown[];
  if (!t.every(isNum)) return null;
  const seg = emptySegment(day);
  seg.version = isNum(r['version']) ? r['version'] : HISTORY_VERSION;
  seg.t = t as number[];
  const s = typeof r['s'] === 'object' && r['s'] !== null ? (r['s'] as Record<string, unknown>) : {};
  for (const [key, values] of Object.entries(s)) {
    if (!Array.isArray(values) || values.length !== t.length) continue;
    // Not copied or checked here: the readers (pointsOf, buildSeries) take a non-number as no value.
    seg.s[key] = values as (number | null)[];
  }
  if (Array.isArray(r['e'])) {
    seg.e = (r['e'] as unknown[]).filter(
      (e): e is StoredEvent =>
        Array.isArray(e) && isNum(e[0]) && typeof e[1] === 'string' && typeof e[2] === 'string' && isNum(e[3]),
    );
  }
  seg.last = toMemory(r['last']);
  return seg;
}

function toMemory(raw: unknown): RunMemory | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  const containers: RunMemory['containers'] = {};
  const c = typeof r['containers'] === 'object' && r['containers'] !== null ? r['containers'] : {};
  for (const [name, v] of Object.entries(c as Record<string, Record<string, unknown>>)) {
    if (typeof v?.['id'] !== 'string' || !isNum(v['restartCount'])) continue;
    const finishedAt = typeof v['finishedAt'] === 'string' ? v['finishedAt'] : null;
    containers[name] = { id: v['id'], restartCount: v['restartCount'], finishedAt };
  }
  return {
    bootId: typeof r['bootId'] === 'string' ? r['bootId'] : null,
    oomKills: isNum(r['oomKills']) ? r['oomKills'] : null,
    containers,
  };
}

/** The days that have a segment in `dir`, oldest first. */
export async function listDays(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir))
      .map((f) => DAY_RE.exec(f)?.[1])
      .filter((d): d is string => d !== undefined)
      .sort();
  } catch {
    return [];
  }
}

export interface LoadedHistory {
  dir: string;
  /** Segments read, oldest first. */
  segments: Segment[];
  /** Days that have a segment on disk (for pruning). */
  days: string[];
  /** Problems worth a diagnostic line (an unreadable segment is skipped, never fatal). */
  problems: string[];
}

export const historyDir = (stateDir: string): string => path.join(stateDir, HISTORY_DIR);

/** Read the segments of the given days (all when omitted); an unreadable one is skipped and reported. */
export async function loadHistory(stateDir: string, pick?: (days: string[]) => string[]): Promise<LoadedHistory> {
  const dir = historyDir(stateDir);
  const days = await listDays(dir);
  const problems: string[] = [];
  const segments: Segment[] = [];
  for (const day of pick ? pick(days) : days) {
    const file = path.join(dir, `${day}.json`);
    const read = await readJsonState(file);
    if (read.status === 'missing') continue;
    const seg = read.status === 'ok' ? toSegment(read.data, day) : null;
    if (seg) segments.push(seg);
    else problems.push(`${file}: ${read.status === 'corrupt' ? read.reason : 'not a history segment'}; skipped`);
  }
  return { dir, segments, days, problems };
}

/** What a mizual-alerts run needs: the newest two segments (24 hours back from any time of day). */
export function loadRecentHistory(stateDir: string): Promise<LoadedHistory> {
  return loadHistory(stateDir, (days) => days.slice(-2));
}

/** The segments that can hold samples of [sinceMs, untilMs]. */
export function loadHistoryRange(stateDir: string, sinceMs: number, untilMs: number): Promise<LoadedHistory> {
  return loadHistory(stateDir, (days) => days.filter((d) => d >= dayOf(sinceMs) && d <= dayOf(untilMs)));
}

/** Each sample's time (ms) and its value for `key`, across segments, nulls included. */
export function pointsOf(segments: readonly Segment[], key: string): [number, number | null][] {
  const out: [number, number | null][] = [];
  for (const seg of segments) {
    const values = seg.s[key];
    seg.t.forEach((t, i) => out.push([t * 1000, values ? decodeValue(key, values[i]) : null]));
  }
  return out;
}

const keysWith = (segments: readonly Segment[], prefix: string): string[] => [
  ...new Set(segments.flatMap((s) => Object.keys(s.s).filter((k) => k.startsWith(`${prefix}|`)))),
];
const lastMemory = (segments: readonly Segment[]): RunMemory | null =>
  [...segments].reverse().find((s) => s.last !== null)?.last ?? null;
const eventsOf = (segments: readonly Segment[]): StoredEvent[] => segments.flatMap((s) => s.e);

/**
 * The trends the checks of mizual-alerts (and the dashboard's forecasts) read, as a view of the samples:
 * disk samples of the last 24 hours, the last network counters and the intervals of the last hour,
 * restart and OOM events of the last hour, and the last run's memory.
 */
export function trendsFromHistory(segments: readonly Segment[], nowMs: number): Trends {
  const trends = emptyTrends();
  for (const key of keysWith(segments, 'fs.used')) {
    const samples = pointsOf(segments, key).filter(
      (p): p is [number, number] => p[1] !== null && p[0] < nowMs && nowMs - p[0] <= DISK_WINDOW_MS,
    );
    if (samples.length > 0) trends.disks[key.slice('fs.used|'.length)] = { samples };
  }
  const events = eventsOf(segments);
  const reboots = new Set(events.filter((e) => e[1] === 'reboot').map((e) => e[0] * 1000));
  for (const rxKey of keysWith(segments, 'net.rx')) {
    const iface = rxKey.slice('net.rx|'.length);
    const rx = pointsOf(segments, rxKey);
    const tx = pointsOf(segments, seriesKey('net.tx', iface));
    const read: [number, number, number][] = [];
    rx.forEach(([at, r], i) => {
      const t = tx[i]?.[1];
      if (r !== null && t !== null && t !== undefined && at <= nowMs) read.push([at, r, t]);
    });
    const last = read.at(-1);
    if (!last) continue;
    const intervals: [number, number, number, number][] = [];
    for (let i = 1; i < read.length; i++) {
      const [a, r0, t0] = read[i - 1] as [number, number, number];
      const [b, r1, t1] = read[i] as [number, number, number];
      if (b <= nowMs - HOUR_MS) continue;
      const reset = reboots.has(b);
      intervals.push([a, b, reset || r1 < r0 ? r1 : r1 - r0, reset || t1 < t0 ? t1 : t1 - t0]);
    }
    trends.net[iface] = { rxBytes: last[1], txBytes: last[2], at: last[0], intervals };
  }
  const memory = lastMemory(segments);
  const inHour = (e: StoredEvent): boolean => nowMs - e[0] * 1000 < HOUR_MS && e[0] * 1000 <= nowMs;
  for (const [name, c] of Object.entries(memory?.containers ?? {})) {
    const mine = events.filter((e) => e[2] === name && inHour(e));
    trends.containers[name] = {
      ...c,
      restarts: mine.filter((e) => e[1] === 'restart').map((e) => [e[0] * 1000, e[3]]),
      ooms: mine.filter((e) => e[1] === 'oom').map((e) => e[0] * 1000),
    };
  }
  trends.host = {
    bootId: memory?.bootId ?? null,
    oomKills: memory?.oomKills ?? null,
    ooms: events.filter((e) => e[2] === 'host' && e[1] === 'oom' && inHour(e)).map((e) => [e[0] * 1000, e[3]]),
  };
  return trends;
}

/**
 * Segments holding what a store written before the history existed kept in the alert state's `trends`
 * (disk samples, the last network counters, restart and OOM events, the boot and each container's id),
 * so the first run of this version loses no forecast.
 */
export function segmentsFromTrends(trends: Trends): Segment[] {
  const byDay = new Map<string, Map<number, SampleValues>>();
  const put = (ms: number, key: string, value: number): void => {
    const day = dayOf(ms);
    if (!byDay.has(day)) byDay.set(day, new Map());
    const samples = byDay.get(day) as Map<number, SampleValues>;
    const t = Math.floor(ms / 1000);
    samples.set(t, { ...samples.get(t), [key]: value });
  };
  for (const [mount, d] of Object.entries(trends.disks)) {
    for (const [at, used] of d.samples) put(at, seriesKey('fs.used', mount), used);
  }
  for (const [iface, n] of Object.entries(trends.net)) {
    put(n.at, seriesKey('net.rx', iface), n.rxBytes);
    put(n.at, seriesKey('net.tx', iface), n.txBytes);
  }
  const events: StoredEvent[] = [];
  for (const [name, c] of Object.entries(trends.containers)) {
    for (const [at, n] of c.restarts) events.push([Math.floor(at / 1000), 'restart', name, n]);
    for (const at of c.ooms) events.push([Math.floor(at / 1000), 'oom', name, 1]);
  }
  for (const [at, n] of trends.host.ooms) events.push([Math.floor(at / 1000), 'oom', 'host', n]);
  const memory: RunMemory = {
    bootId: trends.host.bootId,
    oomKills: trends.host.oomKills,
    containers: Object.fromEntries(
      Object.entries(trends.containers).map(([n, c]) => [
        n,
        { id: c.id, restartCount: c.restartCount, finishedAt: c.finishedAt },
      ]),
    ),
  };
  const days = [...new Set([...byDay.keys(), ...events.map((e) => dayOf(e[0] * 1000))])].sort();
  return days.map((day, i) => {
    const seg = emptySegment(day);
    for (const [t, values] of [...(byDay.get(day) ?? new Map<number, SampleValues>())].sort((a, b) => a[0] - b[0])) {
      appendSample(seg, t, values);
    }
    seg.e = events.filter((e) => dayOf(e[0] * 1000) === day).sort((a, b) => a[0] - b[0]);
    if (i === days.length - 1) seg.last = memory;
    return seg;
  });
}

/** Append one sample (epoch seconds) to a segment, each value stored as its series' integer, every column as long as `t`. */
export function appendSample(seg: Segment, tSec: number, values: SampleValues): void {
  const n = seg.t.length;
  seg.t.push(tSec);
  for (const [key, value] of Object.entries(values)) {
    if (value === null || !Number.isFinite(value)) continue;
    seg.s[key] ??= new Array<number | null>(n).fill(null);
  }
  for (const [key, column] of Object.entries(seg.s)) {
    const v = values[key];
    column.push(v === undefined || v === null || !Number.isFinite(v) ? null : encodeValue(key, v));
  }
}

/** Write one segment atomically, compact (a week of them stays well under 4 MiB). */
export async function writeSegment(dir: string, seg: Segment): Promise<void> {
  await ensurePrivateDir(dir);
  await writeFileAtomic(path.join(dir, `${seg.day}.json`), `${JSON.stringify(seg)}\n`, 0o600);
}

/** Remove the segments wholly older than `days` before nowMs. */
export async function pruneSegments(dir: string, existing: readonly string[], nowMs: number, days: number) {
  const oldest = dayOf(nowMs - days * DAY_MS);
  await Promise.all(
    existing.filter((d) => d < oldest).map((d) => fsp.rm(path.join(dir, `${d}.json`), { force: true })),
  );
}
