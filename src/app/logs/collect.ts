/**
 * The application figures from the configured containers' logs: read the bytes written since the
 * last run (of mizual-metrics or mizual-alerts, which share one state under a lock), count them, and
 * return the window's figures plus the cumulative totals for Prometheus. Queues and probes come from
 * elsewhere (`extras`), merged in as they are.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerSpec } from '../../core/config.js';
import { describeError } from '../../core/errors.js';
import { formatNanoTime, msToNano } from '../../core/time.js';
import { acquireLock, type Lock } from '../../core/lock.js';
import { readJsonState, writeFileAtomic, ensurePrivateDir } from '../../core/state-files.js';
import type { DockerClient } from '../../docker/client.js';
import { listHeld } from '../../docker/held-logs.js';
import type { ContainerDetails } from '../../docker/model.js';
import { inspectedIn, type Snapshot } from '../../docker/snapshot.js';
import type { AppReport } from '../model.js';
import { parseRules, rulesFor, type AppRule } from './rules.js';
import { LineScanner } from './scan.js';
import { logGenerations, readApiLog, readLogFiles, type LogFile, type LogPosition } from './source.js';
import { emptyTotals, Tally, type MinuteBucket, type Totals } from './tally.js';
import { bucketsIn, httpFigures, ruleFigures, taskFigures } from './window.js';

export const APP_STATE_FILE = 'app-logs.json';
const LOCK_FILE = 'app-logs.lock';
const LOCK_WAIT_MS = 10_000;
/** Minute buckets are kept for the longest window asked, at least an hour, at most a day. */
const MIN_HORIZON_MS = 3_600_000;
export const MAX_APP_WINDOW_MS = 86_400_000;
/** A container gone this long is forgotten. */
const FORGET_MS = 7 * 86_400_000;

interface AppState {
  version: 1;
  createdAt: string;
  positions: Record<string, LogPosition>;
  totals: Totals;
  buckets: MinuteBucket[];
  /** How long minute buckets are kept: the longest --app-window any run asked (at least an hour). */
  horizonMs?: number;
}

export interface CollectAppOptions {
  stateDir: string;
  containers: ContainerSpec[];
  /** null: no engine (the log part is empty and says why). */
  docker: DockerClient | null;
  holdDir?: string;
  /** MIZUAL_APP_RULES, when set. */
  rulesFile?: string;
  windowMs: number;
  now?: Date;
  /** Read the new lines but keep nothing: no lock, no state written (`mizual-alerts --dry-run`). */
  readOnly?: boolean;
  /** This run's look at the engine: the configured containers are not inspected again. */
  snapshot?: Promise<Snapshot>;
  /** Figures from outside the logs (broker queues, probes), merged in unchanged. */
  extras?: Promise<Partial<Pick<AppReport, 'queues' | 'probes' | 'problems'>>>;
}

export interface AppCollection {
  report: AppReport;
  /** Cumulative since the state directory was new (Prometheus counters). */
  totals: Totals;
}

/** Read the new log lines, keep the state, and return the window's figures. */
export async function collectApp(options: CollectAppOptions): Promise<AppCollection> {
  const now = options.now ?? new Date();
  const nowMs = now.getTime();
  const problems: string[] = [];
  const rules = await loadRules(options.rulesFile, problems);
  const file = path.join(options.stateDir, APP_STATE_FILE);
  const lock = options.readOnly ? null : await waitForLock(path.join(options.stateDir, LOCK_FILE), problems);
  let state = emptyState(now);
  try {
    if (lock !== 'failed') state = await loadState(file, now, problems);
    // --dry-run reads the new lines too (the figures are current) but keeps nothing.
    if (options.docker && lock !== 'failed' && (lock || options.readOnly)) {
      const horizonBefore = state.horizonMs;
      // mizual-metrics --app-window 24h and mizual-alerts' 5m share the buckets: keep the longer.
      const horizonMs = Math.min(MAX_APP_WINDOW_MS, Math.max(options.windowMs, MIN_HORIZON_MS, state.horizonMs ?? 0));
      if (horizonMs !== state.horizonMs) state.horizonMs = horizonMs;
      const tally = new Tally(state.totals, Math.floor((nowMs - horizonMs) / 60_000));
      const before = JSON.stringify(state.positions);
      await readContainers(options, state, tally, rules, nowMs, nowMs - horizonMs, problems);
      const counted = tally.buckets.size > 0 || horizonMs !== horizonBefore;
      const kept = state.buckets.length;
      state.buckets = tally.fold(state.buckets).filter((b) => b.m * 60_000 >= nowMs - horizonMs);
      // Nothing new (the common `watch -n 5` case): no write, no fsync.
      const changed = counted || kept !== state.buckets.length || before !== JSON.stringify(state.positions);
      if (lock && changed) {
        await saveState(file, state).catch((err: unknown) => problems.push(describeError(err)));
      }
    }
  } catch (err) {
    // The host and container figures must not fail with the application's: say why, show what is kept.
    problems.push(`application logs: ${describeError(err)}`);
  } finally {
    if (lock && lock !== 'failed') lock.release();
  }
  const inWindow = bucketsIn(state.buckets, nowMs - options.windowMs, nowMs);
  const extras = options.extras ? await options.extras : {};
  return {
    report: {
      window: {
        since: new Date(nowMs - options.windowMs).toISOString(),
        until: now.toISOString(),
        seconds: Math.round(options.windowMs / 1000),
      },
      http: httpFigures(inWindow),
      tasks: taskFigures(inWindow),
      rules: ruleFigures(inWindow),
      queues: extras.queues ?? [],
      probes: extras.probes ?? [],
      problems: [...problems, ...(extras.problems ?? [])],
    },
    totals: state.totals,
  };
}

async function loadRules(file: string | undefined, problems: string[]): Promise<AppRule[]> {
  if (!file) return [];
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    problems.push(`MIZUAL_APP_RULES ${file}: ${describeError(err)}`);
    return [];
  }
  const parsed = parseRules(text, `MIZUAL_APP_RULES ${file}`);
  problems.push(...parsed.problems);
  return parsed.rules;
}

/**
 * The shared lock; null (and a problem) while another run holds it past the wait: the state is then only
 * read; `failed` (and a problem) when the state directory cannot be used at all.
 */
async function waitForLock(file: string, problems: string[]): Promise<Lock | null | 'failed'> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    let lock: Awaited<ReturnType<typeof acquireLock>>;
    try {
      lock = await acquireLock(file);
    } catch (err) {
      problems.push(`application logs not read: ${describeError(err)}`);
      return 'failed';
    }
    if ('release' in lock) return lock;
    if (Date.now() > deadline) {
      problems.push(
        `application logs: another run (pid ${lock.heldBy ?? '?'}) is reading them; figures of its last state`,
      );
      return null;
    }
    await sleep(50);
  }
}

function emptyState(now: Date): AppState {
  return { version: 1, createdAt: now.toISOString(), positions: {}, totals: emptyTotals(), buckets: [] };
}

async function loadState(file: string, now: Date, problems: string[]): Promise<AppState> {
  const fresh = emptyState(now);
  const read = await readJsonState(file);
  if (read.status === 'missing') return fresh;
  const data = read.status === 'ok' ? (read.data as Partial<AppState> | null) : null;
  if (!data || data.version !== 1 || typeof data.positions !== 'object' || !Array.isArray(data.buckets)) {
    problems.push(`application state ${file} was unreadable and starts again`);
    return fresh;
  }
  return { ...fresh, ...data, totals: { ...emptyTotals(), ...data.totals } } as AppState;
}

async function saveState(file: string, state: AppState): Promise<void> {
  await ensurePrivateDir(path.dirname(file));
  await writeFileAtomic(file, JSON.stringify(state), 0o600);
}

async function readContainers(
  options: CollectAppOptions,
  state: AppState,
  tally: Tally,
  rules: AppRule[],
  nowMs: number,
  horizonStartMs: number,
  problems: string[],
): Promise<void> {
  const docker = options.docker as DockerClient;
  const stateSince = Date.parse(state.createdAt);
  const current = new Set<string>();
  for (const spec of options.containers) {
    let details: ContainerDetails | null;
    try {
      details = options.snapshot
        ? inspectedIn(await options.snapshot, spec.name)
        : await docker.inspectContainer(spec.name);
      if (!details) continue;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) continue;
      // The engine itself is not answering: one line, and no reading of anything this run.
      problems.push(`application logs: ${describeError(err)}`);
      return;
    }
    current.add(details.id);
    // A container seen for the first time is read from the start of the kept hour (a first run must
    // not read years of logs), unless it was created since this state began (a deploy): then whole.
    const created = details.createdAt ? Date.parse(details.createdAt) : NaN;
    const startMs = created >= stateSince ? null : horizonStartMs;
    await readOne(docker, details, spec, state, tally, rules, nowMs, problems, null, startMs);
  }
  // A container replaced since the last run (a deploy): finish its log, from the engine if it is
  // still there (stopped, renamed), else from the shipper's hold.
  for (const [id, pos] of Object.entries(state.positions)) {
    if (current.has(id)) continue;
    const spec = options.containers.find((c) => c.short === pos.short);
    if (!spec) {
      if (nowMs - Date.parse(pos.seenAt) > FORGET_MS) delete state.positions[id];
      continue;
    }
    const details = await docker.inspectContainer(id).catch(() => null);
    if (details) {
      await readOne(docker, details, spec, state, tally, rules, nowMs, problems, null, null);
      if (details.state === 'running') continue;
    } else {
      const held = await heldFiles(options, docker, id);
      if (held.length > 0) {
        await readOne(docker, null, spec, state, tally, rules, nowMs, problems, { id, files: held }, null);
      }
    }
    delete state.positions[id];
  }
}

async function heldFiles(options: CollectAppOptions, docker: DockerClient, id: string): Promise<LogFile[]> {
  if (!docker.local) return [];
  const dir = options.holdDir ?? path.join(await docker.dataRoot().catch(() => '/var/lib/docker'), 'mizual-hold');
  const held = (await listHeld(dir)).find((h) => h.meta.id === id);
  if (!held) return [];
  return [...held.files]
    .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))
    .map((f) => ({ path: f.path, compressed: f.compressed }));
}

async function readOne(
  docker: DockerClient,
  details: ContainerDetails | null,
  spec: ContainerSpec,
  state: AppState,
  tally: Tally,
  rules: AppRule[],
  nowMs: number,
  problems: string[],
  held: { id: string; files: LogFile[] } | null,
  /** With no position: read from this time (ms), or null for the whole log. */
  startMs: number | null,
): Promise<void> {
  const id = details?.id ?? (held as { id: string }).id;
  const prev = state.positions[id];
  const scanner = new LineScanner(tally, spec.short, rulesFor(rules, spec.short));
  // seenAt only serves to forget a container gone for a week: refreshed hourly, not every run.
  const seen = prev && nowMs - Date.parse(prev.seenAt) < 3_600_000 ? prev.seenAt : new Date(nowMs).toISOString();
  const next: LogPosition = { name: details?.name ?? spec.name, short: spec.short, seenAt: seen };
  try {
    if (held || (details && docker.local && details.logDriver === 'json-file' && details.logPath)) {
      const files = held ? held.files : await logGenerations((details as ContainerDetails).logPath as string);
      const read = await readLogFiles(files, prev?.file, scanner, startMs === null ? null : msToNano(startMs));
      if (read.lost) problems.push(`${spec.short}: part of the log rotated away before it was read`);
      if (read.position) next.file = read.position;
    } else if (details) {
      const since = prev?.since ?? (startMs === null ? undefined : formatNanoTime(msToNano(startMs) - 1n));
      next.since = await readApiLog(docker, id, details.tty, since, nowMs, scanner);
    }
  } catch (err) {
    problems.push(`${spec.short}: log not read (${describeError(err)})`);
    return;
  }
  state.positions[id] = next;
}
