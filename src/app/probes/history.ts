/**
 * The probes' recent history, kept by mizual-alerts (every 5 minutes from cron) in
 * `<stateDir>/probe-history.json` and read by mizual-metrics: behind the p95 over the last hour and
 * the uptime over 24 hours. Bounded: samples older than 24 hours, and past MAX_SAMPLES per probe,
 * are dropped; probes no longer configured are forgotten.
 */
import path from 'node:path';
import { readJsonState, writeJsonState } from '../../core/state-files.js';

export const PROBE_HISTORY_FILE = 'probe-history.json';
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** One a minute for a day: far more than cron every 5 minutes writes. */
const MAX_SAMPLES = 1_440;

/** [epoch seconds, 1 up / 0 down, seconds taken or null]. */
export type ProbeSample = [number, 0 | 1, number | null];

export interface ProbeHistory {
  version: 1;
  probes: Record<string, { url: string; samples: ProbeSample[] }>;
}

/** Read the history; a missing or corrupt file is an empty one (the figures then rest on this run alone). */
export async function readProbeHistory(stateDir: string): Promise<ProbeHistory> {
  const read = await readJsonState(path.join(stateDir, PROBE_HISTORY_FILE));
  const empty: ProbeHistory = { version: 1, probes: {} };
  if (read.status !== 'ok' || typeof read.data !== 'object' || read.data === null) return empty;
  const raw = (read.data as Partial<ProbeHistory>).probes;
  if (typeof raw !== 'object' || raw === null) return empty;
  for (const [name, entry] of Object.entries(raw)) {
    if (typeof entry?.url !== 'string' || !Array.isArray(entry.samples)) continue;
    const samples = entry.samples.filter(
      (s): s is ProbeSample =>
        Array.isArray(s) &&
        typeof s[0] === 'number' &&
        (s[1] === 0 || s[1] === 1) &&
        (s[2] === null || typeof s[2] === 'number'),
    );
    empty.probes[name] = { url: entry.url, samples };
  }
  return empty;
}

/** The history with this run's samples added, pruned to the configured probes, 24 hours and MAX_SAMPLES. */
export function addSamples(
  history: ProbeHistory,
  samples: readonly { name: string; url: string; sample: ProbeSample }[],
  nowMs: number,
): ProbeHistory {
  const oldest = (nowMs - DAY_MS) / 1000;
  const next: ProbeHistory = { version: 1, probes: {} };
  for (const { name, url, sample } of samples) {
    const before = history.probes[name];
    // A probe pointed elsewhere starts a new history.
    const kept = before && before.url === url ? before.samples.filter((s) => s[0] >= oldest && s[0] < sample[0]) : [];
    next.probes[name] = { url, samples: [...kept, sample].slice(-MAX_SAMPLES) };
  }
  return next;
}

/** Write the history atomically (0600 in a 0700 directory). */
export async function writeProbeHistory(stateDir: string, history: ProbeHistory): Promise<void> {
  await writeJsonState(path.join(stateDir, PROBE_HISTORY_FILE), history);
}

/** p95 of the successful probes' seconds within the last hour, and the share of up samples within 24 hours (percent). */
export function summarise(
  samples: readonly ProbeSample[],
  nowMs: number,
): { p95: number | null; uptime: number | null } {
  const hourAgo = (nowMs - HOUR_MS) / 1000;
  const dayAgo = (nowMs - DAY_MS) / 1000;
  const times = samples
    .filter((s) => s[0] >= hourAgo && s[1] === 1 && s[2] !== null)
    .map((s) => s[2] as number)
    .sort((a, b) => a - b);
  const day = samples.filter((s) => s[0] >= dayAgo);
  // Nearest rank: the smallest value with at least 95% of the samples at or below it.
  const p95 = times.length === 0 ? null : (times[Math.ceil(0.95 * times.length) - 1] ?? null);
  const uptime =
    day.length === 0 ? null : Math.round((day.filter((s) => s[1] === 1).length / day.length) * 10_000) / 100;
  return { p95, uptime };
}
