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
import type { AppReport, HttpFigure, SourceFigure } from '../model.js';
import { boundBuckets, compactBuckets } from './bounds.js';
import { bareScaleFromCommand } from './formats.js';
import { parseRules, rulesFor, rulesTurnedOff, type AppRule } from './rules.js';
import { LineScanner } from './scan.js';
import { logGenerations, readApiLog, readLogFiles, type LogFile, type LogPosition } from './source.js';
import { emptyTotals, Tally, type MinuteBucket, type RouteBook, type Totals } from './tally.js';
import { bucketsIn, httpFigures, ruleFigures, sourceFigures, taskFigures } from './window.js';

export const APP_STATE_FILE = 'app-logs.json';
const LOCK_FILE = 'app-logs.lock';
const LOCK_WAIT_MS = 10_000;
/** Minute buckets are kept for the longest window asked, at least an hour, at most a day. */
const MIN_HORIZON_MS = 3_600_000;
export const MAX_APP_WINDOW_MS = 86_400_000;
/** A container gone this long is forgotten. */
const FORGET_MS = 7 * 86_400_000;
/** A window longer than the hour is kept this long after it was last asked, then the horizon shrinks back. */
const WIDE_KEEP_MS = 3_600_000;
/** The formats read with no setting, named in the line about a container none of whose lines is one. */
export const KNOWN_FORMATS =
  'uvicorn, gunicorn, nginx/Apache/Traefik access lines, Caddy/Traefik/nginx JSON, JSON lines with status and method/path, Celery worker lines';

/** What is kept of a container's log between runs beyond its position (by short name). */
interface SourceState {
  /** When it wrote its last line (ms since the epoch, to the second). */
  lastLineMs?: number;
  /** The masked shape of an unrecognised line. */
  sample?: string;
  /** When it last wrote access lines ending in a number of unknown unit (ms since the epoch). */
  ambiguousAt?: number;
  /** A Celery worker: its command says so or it wrote worker lines. */
  worker?: boolean;
  /** An application's container (its command runs an app server or runtime, or it wrote known lines). */
  app?: boolean;
}

/**
 * Commands of the application's own containers: only these are named when none of their lines is
 * recognised (a Redis, a registry or watchtower never writes access lines: no line about them).
 */
const APP_COMMAND =
  /(?:^|\/)(?:uvicorn|gunicorn|hypercorn|daphne|granian|celery|nginx|httpd|apache2|caddy|traefik|node|deno|bun|python[\d.]*|php(?:-fpm)?[\d.]*|ruby|puma|rails|java|dotnet|uwsgi)$/;

interface AppState {
  version: 1;
  createdAt: string;
  positions: Record<string, LogPosition>;
  totals: Totals;
  buckets: MinuteBucket[];
  /** How long minute buckets are kept: the longest --app-window asked in the last hour (at least an hour). */
  horizonMs?: number;
  /** When a window longer than an hour was last asked (ISO). */
  wideAt?: string;
  /** The routes of each container by volume across runs. */
  routes?: RouteBook;
  sources?: Record<string, SourceState>;
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
      // mizual-metrics --app-window 24h and mizual-alerts' 5m share the buckets: keep the longer while it
      // is being asked (an hour after the last time), then shrink back.
      if (options.windowMs > MIN_HORIZON_MS) state.wideAt = now.toISOString();
      const wide = state.wideAt && nowMs - Date.parse(state.wideAt) <= WIDE_KEEP_MS ? (state.horizonMs ?? 0) : 0;
      const horizonMs = Math.min(MAX_APP_WINDOW_MS, Math.max(options.windowMs, MIN_HORIZON_MS, wide));
      if (horizonMs !== state.horizonMs) state.horizonMs = horizonMs;
      const tally = new Tally(state.totals, Math.floor((nowMs - horizonMs) / 60_000), state.routes);
      state.routes = tally.book;
      const before = JSON.stringify(state.positions);
      await readContainers(options, state, tally, rules, nowMs, nowMs - horizonMs, problems);
      problems.push(...rulesTurnedOff(rules));
      const counted = tally.buckets.size > 0 || horizonMs !== horizonBefore;
      const kept = state.buckets.length;
      state.buckets = compactBuckets(
        tally.fold(state.buckets, nowMs).filter((b) => (b.m + (b.w ?? 1)) * 60_000 > nowMs - horizonMs),
        nowMs,
      );
      boundBuckets(state.buckets);
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
  const shorts = new Set(options.containers.map((c) => c.short));
  const lastLines: Record<string, number> = {};
  for (const [short, src] of Object.entries(state.sources ?? {})) {
    if (shorts.has(short)) lastLines[short] = src.lastLineMs ?? -1;
  }
  const sources = sourceFigures(inWindow, lastLines).filter((f) => shorts.has(f.container));
  for (const f of sources) if (state.sources?.[f.container]?.worker) f.worker = true;
  const http = httpFigures(inWindow);
  attachLines(http, sources);
  problems.push(...sourceProblems(sources, state.sources ?? {}, http, options.windowMs, nowMs));
  return {
    report: {
      window: {
        since: new Date(nowMs - options.windowMs).toISOString(),
        until: now.toISOString(),
        seconds: Math.round(options.windowMs / 1000),
      },
      http,
      tasks: taskFigures(inWindow),
      rules: ruleFigures(inWindow),
      queues: extras.queues ?? [],
      probes: extras.probes ?? [],
      problems: [...problems, ...(extras.problems ?? [])],
      sources,
    },
    totals: state.totals,
  };
}

/** Each web container's `linesRead`/`linesUnrecognised`, from its source. */
function attachLines(http: HttpFigure[], sources: SourceFigure[]): void {
  const by = new Map(sources.map((f) => [f.container, f]));
  for (const h of http) {
    const f = by.get(h.container);
    h.linesRead = f?.linesRead ?? 0;
    h.linesUnrecognised = f?.linesUnrecognised ?? 0;
  }
}

/**
 * One line per application container (APP_COMMAND) whose lines were read and none recognised (how many,
 * a masked sample's shape, the formats known), and per web container whose access lines end in a number
 * of unknown unit.
 */
function sourceProblems(
  sources: SourceFigure[],
  kept: Record<string, SourceState>,
  http: HttpFigure[],
  windowMs: number,
  nowMs: number,
): string[] {
  const out: string[] = [];
  const window = formatWindow(windowMs);
  for (const f of sources) {
    if (f.linesRead === 0 || f.linesUnrecognised < f.linesRead || !kept[f.container]?.app) continue;
    const sample = kept[f.container]?.sample;
    out.push(
      `${f.container}: ${f.linesRead} lines read in the last ${window}, none recognised` +
        `${sample ? ` (e.g. ${JSON.stringify(sample)})` : ''}; known: ${KNOWN_FORMATS}; MIZUAL_APP_RULES reads others`,
    );
  }
  for (const h of http) {
    const at = kept[h.container]?.ambiguousAt;
    if (h.duration === null && at !== undefined && nowMs - at <= windowMs) {
      out.push(
        `${h.container}: access lines end in a number without a unit (µs, ms or s?): no durations; ` +
          'write it with its unit (gunicorn %(L)s, nginx $request_time) or run gunicorn with --access-logformat on its command line',
      );
    }
  }
  return out;
}

function formatWindow(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${Math.round(ms / 60_000)}m`;
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
  const scanner = new LineScanner(tally, spec.short, rulesFor(rules, spec.short), {
    bareScale: bareScaleFromCommand(details?.command),
  });
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
  } finally {
    noteSource(state, spec.short, scanner, nowMs, isWorkerCommand(details?.command), isAppCommand(details?.command));
  }
  state.positions[id] = next;
}

/** `celery … worker …` (or `celery worker`) as the container's command. */
function isWorkerCommand(command: string[] | undefined): boolean {
  if (!command) return false;
  return command.some((a) => /(^|\/)celery$/.test(a) || a === 'celery') && command.includes('worker');
}

/** The container runs an app server or a language runtime (its command's first words say so). */
function isAppCommand(command: string[] | undefined): boolean {
  return (command ?? []).slice(0, 3).some((a) => APP_COMMAND.test(a));
}

/** Keep what the scanner saw of the container beyond its counts: its last line, a sample, a unit doubt. */
function noteSource(
  state: AppState,
  short: string,
  scanner: LineScanner,
  nowMs: number,
  worker: boolean,
  isApp: boolean,
): void {
  if (scanner.lines === 0 && !worker) return;
  const src = ((state.sources ??= {})[short] ??= {});
  if (worker || scanner.celeryLines > 0) src.worker = true;
  if (isApp || scanner.lines > scanner.unrecognised) src.app = true;
  if (scanner.lastLineMs > (src.lastLineMs ?? -1)) src.lastLineMs = scanner.lastLineMs;
  if (scanner.sample !== null) src.sample = scanner.sample;
  if (scanner.ambiguous > 0) src.ambiguousAt = nowMs;
}
