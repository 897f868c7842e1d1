/**
 * Alert state: one record per check in `<stateDir>/alerts-state.json`, and the pure decision that
 * turns this run's observations plus the previous records into statuses, log events and new records.
 */
import path from 'node:path';
import type { AlertSeverity } from './log.js';
import { readJsonState, writeJsonState } from '../core/state-files.js';
import { clearLevel } from '../core/thresholds.js';
import { ALERT_STATE_FILE, emptyTrends, toTrends, type Trends } from '../core/trends.js';
import type { Observation } from '../core/observation.js';
import type { RememberedContainer } from '../docker/watched.js';

export { ALERT_STATE_FILE };

export type CheckStatus = 'ok' | 'warning' | 'critical' | 'unknown';
type ActiveStatus = 'ok' | 'warning' | 'critical';

export type { Observation };

export interface CheckRecord {
  status: ActiveStatus;
  /** When the current status began (ISO). */
  since: string;
  /** When a WARNING/CRITICAL line was last written for it, for `--repeat`. */
  lastLoggedAt: string | null;
  /** Consecutive runs over the threshold. */
  streak: number;
  /** When the current run of failing observations began (ISO), null when not failing. */
  streakSince?: string | null;
}

export interface CpuBaseline {
  busy: number;
  total: number;
  /** Epoch ms when the counters were read. */
  takenAt: number;
}

export interface AlertState {
  version: 1;
  updatedAt: string | null;
  checks: Record<string, CheckRecord>;
  cpu: CpuBaseline | null;
  /**
   * What versions before the history store kept for the trend checks; read once to migrate it into
   * `history/`, never written again.
   */
  trends?: Trends;
  /**
   * The containers watched without MIZUAL_CONTAINERS, by short name: one that disappears after it was
   * seen stays watched (CRITICAL) until it, or a replacement of its Compose service, is back.
   */
  watched?: Record<string, RememberedContainer>;
}

export interface CheckResult {
  check: string;
  status: CheckStatus;
  value: number | string | null;
  threshold: number | string | null;
  message: string;
  since: string | null;
  note?: string;
  data?: Record<string, number | string | boolean | null>;
}

export interface AlertEvent {
  at: string;
  severity: AlertSeverity;
  check: string;
  message: string;
  /** The status before this event (for RESOLVED: the severity that cleared). */
  previous: ActiveStatus;
  /** When the alert began (for a reminder or RESOLVED: the original start). */
  since: string;
  value: number | string | null;
  threshold: number | string | null;
  reminder: boolean;
}

/** An empty state, as on the first run. */
export function emptyState(): AlertState {
  return { version: 1, updatedAt: null, checks: {}, cpu: null, trends: emptyTrends() };
}

/** Load the alert state; a corrupt or unreadable file yields an empty state and the reason (never throws). */
export async function loadAlertState(stateDir: string): Promise<{ state: AlertState; problem?: string }> {
  const file = path.join(stateDir, ALERT_STATE_FILE);
  const read = await readJsonState(file);
  if (read.status === 'missing') return { state: emptyState() };
  if (read.status === 'corrupt') return { state: emptyState(), problem: `${file}: ${read.reason}; starting afresh` };
  const state = toAlertState(read.data);
  if (!state) return { state: emptyState(), problem: `${file}: not an alert state document; starting afresh` };
  return { state };
}

/** Write the alert state atomically (0600 in a 0700 directory). */
export async function saveAlertState(stateDir: string, state: AlertState): Promise<void> {
  await writeJsonState(path.join(stateDir, ALERT_STATE_FILE), state);
}

function toAlertState(data: unknown): AlertState | null {
  if (typeof data !== 'object' || data === null) return null;
  const raw = data as Partial<AlertState>;
  if (raw.version !== 1 || typeof raw.checks !== 'object' || raw.checks === null) return null;
  const checks: Record<string, CheckRecord> = {};
  for (const [name, rec] of Object.entries(raw.checks as Record<string, Partial<CheckRecord>>)) {
    if (!rec || !['ok', 'warning', 'critical'].includes(rec.status as string) || typeof rec.since !== 'string')
      continue;
    checks[name] = {
      status: rec.status as ActiveStatus,
      since: rec.since,
      lastLoggedAt: typeof rec.lastLoggedAt === 'string' ? rec.lastLoggedAt : null,
      streak: typeof rec.streak === 'number' && rec.streak >= 0 ? rec.streak : 0,
      streakSince: typeof rec.streakSince === 'string' ? rec.streakSince : null,
    };
  }
  const cpu = raw.cpu;
  const validCpu =
    cpu && [cpu.busy, cpu.total, cpu.takenAt].every((n) => typeof n === 'number' && Number.isFinite(n)) ? cpu : null;
  const updatedAt = typeof raw.updatedAt === 'string' ? raw.updatedAt : null;
  return {
    version: 1,
    updatedAt,
    checks,
    cpu: validCpu,
    ...(raw.trends === undefined ? {} : { trends: toTrends(raw.trends) }),
    ...(raw.watched === undefined ? {} : { watched: toRemembered(raw.watched) }),
  };
}

function toRemembered(data: unknown): Record<string, RememberedContainer> {
  const kept: Record<string, RememberedContainer> = {};
  if (typeof data !== 'object' || data === null) return kept;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  for (const [short, raw] of Object.entries(data as Record<string, Record<string, unknown> | null>)) {
    const name = text(raw?.name);
    if (!name) continue;
    const [project, service] = [text(raw?.project), text(raw?.service)];
    kept[short] = { name, ...(project ? { project } : {}), ...(service ? { service } : {}) };
  }
  return kept;
}

/**
 * Apply this run's observations to the previous records: a line on every change of status, a reminder
 * every `repeatMs` while active, RESOLVED with the current value when a check clears (with hysteresis),
 * and RESOLVED "no longer checked" for an active check that is gone.
 */
export function applyObservations(
  previous: Readonly<Record<string, CheckRecord>>,
  observations: readonly Observation[],
  now: Date,
  repeatMs: number,
): { results: CheckResult[]; events: AlertEvent[]; records: Record<string, CheckRecord> } {
  const at = now.toISOString();
  const results: CheckResult[] = [];
  const events: AlertEvent[] = [];
  const records: Record<string, CheckRecord> = {};
  for (const obs of observations) {
    const prev = previous[obs.check];
    const base = {
      check: obs.check,
      value: obs.value,
      threshold: obs.threshold,
      message: obs.message,
      ...(obs.data ? { data: obs.data } : {}),
    };
    if (obs.unknown || obs.skipped) {
      if (prev) records[obs.check] = prev;
      const status = obs.unknown ? 'unknown' : 'ok';
      results.push({ ...base, status, since: prev?.since ?? null, ...(obs.note ? { note: obs.note } : {}) });
      continue;
    }
    const wasActive = prev !== undefined && prev.status !== 'ok';
    const over = obs.measure
      ? wasActive
        ? obs.measure.value >= clearLevel(obs.measure.threshold)
        : obs.measure.value > obs.measure.threshold
      : Boolean(obs.failing);
    const streak = over ? (prev?.streak ?? 0) + 1 : 0;
    const needed = obs.forRuns ?? 1;
    const streakSince = over ? (prev?.streak && prev.streakSince ? prev.streakSince : at) : null;
    const longEnough = !streakSince || now.getTime() - Date.parse(streakSince) >= (obs.forMs ?? 0);
    const status: ActiveStatus = over && (wasActive || (streak >= needed && longEnough)) ? obs.severity : 'ok';
    let note = obs.note;
    if (over && status === 'ok') {
      note = longEnough
        ? `above the threshold for ${streak} of ${needed} runs`
        : `failing since ${streakSince}; raised after ${Math.round((obs.forMs ?? 0) / 60_000)} min`;
    } else if (over && wasActive && obs.measure && obs.measure.value <= obs.measure.threshold) {
      note = `clears below ${clearLevel(obs.measure.threshold)}`;
    }
    const changed = status !== (prev?.status ?? 'ok');
    const record: CheckRecord = {
      status,
      since: changed || !prev ? at : prev.since,
      lastLoggedAt: status === 'ok' ? null : (prev?.lastLoggedAt ?? null),
      streak,
      streakSince,
    };
    const event = { check: obs.check, at, value: obs.value, threshold: obs.threshold, previous: prev?.status ?? 'ok' };
    if (status !== 'ok') {
      const due = record.lastLoggedAt === null || now.getTime() - Date.parse(record.lastLoggedAt) >= repeatMs;
      if (changed || due) {
        const reminder = !changed;
        const suffix = reminder ? ` (active since ${record.since.replace(/\.\d{3}Z$/, 'Z')})` : '';
        events.push({
          ...event,
          severity: status === 'critical' ? 'CRITICAL' : 'WARNING',
          message: obs.message + suffix,
          since: record.since,
          reminder,
        });
        record.lastLoggedAt = at;
      }
    } else if (wasActive) {
      events.push({ ...event, severity: 'RESOLVED', message: obs.message, since: prev.since, reminder: false });
    }
    records[obs.check] = record;
    results.push({ ...base, status, since: status === 'ok' ? null : record.since, ...(note ? { note } : {}) });
  }
  const seen = new Set(observations.map((o) => o.check));
  for (const [check, prev] of Object.entries(previous)) {
    if (seen.has(check) || prev.status === 'ok') continue;
    events.push({
      at,
      severity: 'RESOLVED',
      check,
      message: 'no longer checked',
      previous: prev.status,
      since: prev.since,
      value: null,
      threshold: null,
      reminder: false,
    });
  }
  return { results, events, records };
}

/** The monitoring-plugin exit code: 2 if anything is critical, else 3 if anything is unknown, else 1 for a warning. */
export function exitCodeFor(results: readonly CheckResult[]): 0 | 1 | 2 | 3 {
  if (results.some((r) => r.status === 'critical')) return 2;
  if (results.some((r) => r.status === 'unknown')) return 3;
  if (results.some((r) => r.status === 'warning')) return 1;
  return 0;
}
