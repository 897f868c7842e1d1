/**
 * One mizual-alerts run, the way src/ship/run.ts owns a shipping run: the settings, the lock, the kept
 * state, one look at the engine, every check of the list at once, one history sample, the alert log and
 * the webhook. Prints nothing: the command renders what this returns.
 */
import path from 'node:path';
import { parseLimits, type AlertCheck, type CheckContext, type CheckFlag, type HostReads } from './check.js';
import { CHECKS } from './checks/index.js';
import { cpuCheck } from './checks/cpu.js';
import { disksCheck } from './checks/disks.js';
import { dockerLogsCheck } from './checks/docker-logs.js';
import { memoryCheck } from './checks/memory.js';
import { appLogsCheck } from './checks/app-logs.js';
import { outsideCheck } from './checks/outside.js';
import { trendsCheck } from './checks/trends.js';
import { appendAlertLines, formatAlertLine, parseSize } from './log.js';
import { applyObservations, exitCodeFor, loadAlertState, saveAlertState } from './state.js';
import type { CheckResult, Observation } from './state.js';
import type { DeliveryReport } from './notify/deliver.js';
import { outsideAppReport, type OutsideFigures } from '../app/outside.js';
import { loadConfig } from '../core/config.js';
import { MizualError } from '../core/errors.js';
import { acquireLock } from '../core/lock.js';
import type { Thresholds } from '../core/thresholds.js';
import { emptyTrends, type Trends } from '../core/trends.js';
import { parseDuration, parsePositiveInt } from '../core/units.js';
import { takeSnapshot, type Snapshot } from '../docker/snapshot.js';
import type { ContainerSpec } from '../core/config.js';
import { lookAtEngine, rememberWatched, type EngineLook } from '../docker/watched.js';
import { recordRun, readContainerCounters, type RunReadings } from '../history/record.js';
import { loadRecentHistory, trendsFromHistory } from '../history/store.js';
import {
  isVirtualInterface,
  readBootId,
  readFilesystemReport,
  readLoad,
  readMemory,
  readNetCounters,
  readOomKills,
} from '../host/index.js';

export const UNKNOWN = 3;
const STATUS_NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

/** The flags of the run itself (not of one check), declared like a check's. */
export const RUN_FLAGS = {
  repeatMs: {
    flag: '--repeat <duration>',
    help: 'repeat an active alert in the log this often',
    default: '1h',
    parse: parseDuration,
  },
  logMaxBytes: {
    flag: '--log-max-size <size>',
    help: 'rotate the alert log past this size',
    default: '10M',
    parse: parseSize,
  },
} satisfies Record<string, CheckFlag<number>>;

const runCheck: AlertCheck<{ repeatMs: number; logMaxBytes: number }> = {
  name: 'run',
  group: 'Options:',
  flags: RUN_FLAGS,
  run: () => Promise.resolve({ observations: [] }),
};

export interface AlertsOptions {
  envFile?: string;
  /** Flags as given, by long name (`{ '--restarts': '5' }`); the others take their defaults. */
  flags?: Readonly<Record<string, string | undefined>>;
  noDocker?: boolean;
  dryRun?: boolean;
  procRoot?: string;
  sysRoot?: string;
  now?: Date;
}

/** The limits of the trend checks as the report shows them. */
export interface TrendLimits {
  restarts: number;
  diskDays: number;
  netInBytes: number;
  netOutBytes: number;
  healthSlowMs: number;
  dockerLogBytes: number;
}

export interface AlertsReport {
  host: string;
  time: string;
  status: (typeof STATUS_NAMES)[number];
  exitCode: number;
  dryRun: boolean;
  thresholds: Thresholds;
  limits: TrendLimits;
  checks: CheckResult[];
  /** Lines appended to the alert log (with --dry-run: the lines that would be). */
  logged: string[];
  webhook: DeliveryReport | null;
  /** Problems worth a line on stderr (corrupt state replaced, webhook down). */
  diagnostics: string[];
}

/** The run's snapshot when discovery took none; the Compose-name resolver lists from it too. */
function taken(look: EngineLook, config: { containers: ContainerSpec[]; dockerHost?: string }): Promise<Snapshot> {
  const snapshot = takeSnapshot(config.containers, { dockerHost: config.dockerHost });
  const list = snapshot.then((s) => ('error' in s ? Promise.reject(s.error) : s.list));
  // Read only when a URL names a Compose service; until then a failure must not count as unhandled.
  list.catch(() => undefined);
  look.adoptList(list);
  return snapshot;
}

/** Evaluate every check, and unless dryRun, log changes, keep state and notify. Prints nothing. */
export async function runAlerts(options: AlertsOptions): Promise<AlertsReport> {
  const configured = loadConfig({ envFileFlag: options.envFile });
  const given = options.flags ?? {};
  // Every flag is parsed before any work, so a bad value is a usage error and nothing else.
  const limits = new Map<AlertCheck, object>(CHECKS.map((c) => [c, parseLimits(c, given, configured.lookup)]));
  const limitsOf = <L extends object>(check: AlertCheck<L>): L => limits.get(check as AlertCheck) as L;
  const { repeatMs, logMaxBytes } = parseLimits(runCheck, given);
  for (const check of CHECKS) check.validate?.(configured);
  const now = options.now ?? new Date();
  const dryRun = Boolean(options.dryRun);
  const historyDays = parsePositiveInt(configured.lookup('MIZUAL_HISTORY_DAYS') ?? '7', 'MIZUAL_HISTORY_DAYS');
  // Parse the targets before any work so a bad MIZUAL_ALERT_WEBHOOK_URL or _FORMAT is a usage error.
  const targets = configured.webhookUrl
    ? (await import('./notify/targets.js')).parseTargets(configured.webhookUrl, configured.webhookFormat)
    : [];
  const lock = dryRun ? null : await acquireLock(path.join(configured.stateDir, 'alerts.lock'));
  if (lock && 'heldBy' in lock) {
    throw new MizualError(`another mizual-alerts run (pid ${lock.heldBy ?? '?'}) is still running`, UNKNOWN);
  }
  let look: EngineLook | null = null;
  try {
    const diagnostics: string[] = [];
    // The two state files are read (and below written) side by side: their reads and fsyncs overlap.
    const [loaded, history] = await Promise.all([
      loadAlertState(configured.stateDir),
      loadRecentHistory(configured.stateDir),
    ]);
    // What to watch (MIZUAL_CONTAINERS, else discovered, those seen before and gone included), and
    // where the URLs' Compose names lead.
    look = await lookAtEngine(configured, { noDocker: options.noDocker, remembered: loaded.state.watched });
    const config = { ...configured, containers: look.watched.containers };
    if (loaded.problem) diagnostics.push(loaded.problem);
    const lastRun = loaded.state.updatedAt ? Date.parse(loaded.state.updatedAt) : NaN;
    // The trend checks read the history's samples; before the first history, what the old state kept.
    diagnostics.push(...history.problems);
    const before =
      history.segments.length > 0
        ? trendsFromHistory(history.segments, now.getTime())
        : (loaded.state.trends ?? emptyTrends());
    const context: CheckContext = {
      config,
      now,
      dryRun,
      procRoot: options.procRoot,
      sysRoot: options.sysRoot,
      trends: before,
      lastRunMs: Number.isFinite(lastRun) ? lastRun : null,
      previousCpu: loaded.state.cpu,
      // One look at the engine, shared by the container checks, the log reader and the broker lookup.
      // Discovery's own list and inspects stand for it when MIZUAL_CONTAINERS is unset.
      snapshot: options.noDocker ? null : look.snapshot ? Promise.resolve(look.snapshot) : taken(look, config),
      host: hostReads(options.procRoot, options.sysRoot),
      diagnostics,
      shared: new Map(),
      dial: look.hosts.dial.bind(look.hosts),
    };
    // Every check at once: a run costs the slowest check (the CPU wait, a probe), not their sum.
    const outcomes = await Promise.all(CHECKS.map((check) => check.run(context, limits.get(check) as never)));
    const observations: Observation[] = outcomes.flatMap((o) => o.observations);
    const trends: Trends = Object.assign({ ...before }, ...outcomes.map((o) => o.trends ?? {})) as Trends;
    const cpu = outcomes.find((o) => o.cpu !== undefined)?.cpu ?? null;
    const readings = await historySample(context, outcomes, limitsOf(appLogsCheck).windowMs);
    const { results, events, records } = applyObservations(loaded.state.checks, observations, now, repeatMs);
    const logged = events.map((e) => formatAlertLine(now, e.severity, e.check, e.message));
    let webhook: DeliveryReport | null = null;
    if (!dryRun) {
      // The log line first: a failing webhook or state write must never lose it.
      await appendAlertLines(config.alertLog, logged, { maxBytes: logMaxBytes });
      await Promise.all([
        saveAlertState(config.stateDir, {
          version: 1,
          updatedAt: now.toISOString(),
          checks: records,
          cpu,
          // Discovered containers are remembered, so one that disappears stays CRITICAL until it is back.
          watched:
            look.watched.explicit || look.problem || options.noDocker
              ? loaded.state.watched
              : rememberWatched(config.containers),
        }),
        // A history that cannot be written costs the charts a sample, never the alerts.
        recordRun(history, { nowMs: now.getTime(), readings, before, after: trends, days: historyDays }).catch(
          (err: unknown) =>
            diagnostics.push(`history not recorded: ${err instanceof Error ? err.message : String(err)}`),
        ),
      ]);
      if (targets.length > 0) {
        const { deliverNotifications } = await import('./notify/deliver.js');
        webhook = await deliverNotifications({
          targets,
          stateDir: config.stateDir,
          events,
          ctx: { host: config.hostname, repeatMs, now },
        });
        if (webhook.outboxProblem) diagnostics.push(webhook.outboxProblem);
        for (const t of webhook.targets) {
          if (t.error) diagnostics.push(`webhook ${t.target} failed (${t.error}); ${t.queued} kept in the outbox`);
        }
        if (webhook.dropped > 0) {
          const line = formatAlertLine(
            now,
            'WARNING',
            'webhook',
            `dropped ${webhook.dropped} undelivered notifications`,
          );
          await appendAlertLines(config.alertLog, [line], { maxBytes: logMaxBytes });
          logged.push(line);
        }
      }
    }
    const exitCode = exitCodeFor(results);
    return {
      host: config.hostname,
      time: now.toISOString(),
      status: STATUS_NAMES[exitCode],
      exitCode,
      dryRun,
      thresholds: {
        cpu: limitsOf(cpuCheck).cpu,
        memory: limitsOf(memoryCheck).memory,
        disk: limitsOf(disksCheck).disk,
      },
      limits: {
        ...limitsOf(trendsCheck),
        healthSlowMs: limitsOf(outsideCheck).healthSlowMs,
        dockerLogBytes: limitsOf(dockerLogsCheck).dockerLogBytes,
      },
      checks: results,
      logged,
      webhook,
      diagnostics,
    };
  } finally {
    look?.close();
    if (lock && 'release' in lock) await lock.release();
  }
}

/** The host's readings, each read once on first use and shared by the checks and the sample. */
function hostReads(procRoot?: string, sysRoot?: string): HostReads {
  const once = <T>(read: () => Promise<T>): (() => Promise<T>) => {
    let started: Promise<T> | undefined;
    return () => (started ??= read());
  };
  return {
    filesystems: once(() => readFilesystemReport({ procRoot })),
    memory: once(() => readMemory({ procRoot })),
    net: once(() => readPhysicalNetCounters(procRoot, sysRoot)),
    oomKills: once(() => readOomKills({ procRoot })),
    bootId: once(() => readBootId({ procRoot })),
  };
}

/** The counters of the physical interfaces (bridges, veth, ifb carry the same traffic again); null if unreadable. */
async function readPhysicalNetCounters(procRoot?: string, sysRoot?: string) {
  try {
    const all = await readNetCounters({ procRoot });
    const virtual = await Promise.all(all.map((c) => isVirtualInterface(c.iface, sysRoot)));
    return all.filter((_, i) => !virtual[i]);
  } catch {
    return null;
  }
}

/** The run's one history sample: the host as the checks read it, the containers, the application and the database. */
async function historySample(
  context: CheckContext,
  outcomes: readonly { sample?: Partial<RunReadings>; outside?: OutsideFigures }[],
  appWindowMs: number,
): Promise<RunReadings> {
  const part = Object.assign({}, ...outcomes.map((o) => o.sample ?? {})) as Partial<RunReadings>;
  const outside = outcomes.find((o) => o.outside)?.outside;
  const snapshot = context.snapshot ? await context.snapshot : null;
  const nowMs = context.now.getTime();
  // The application's figures from the logs, with the probes' and the queues' beside them.
  const app = part.app
    ? { ...part.app, queues: outside?.queues ?? [], probes: outside?.probes ?? [] }
    : outside
      ? outsideAppReport(outside, nowMs, appWindowMs)
      : undefined;
  return {
    cpuPercent: part.cpuPercent ?? null,
    load: await readLoad({ procRoot: context.procRoot }).catch(() => null),
    memory: await context.host.memory().catch(() => null),
    disks: (await context.host.filesystems().catch(() => null))?.disks ?? null,
    net: await context.host.net(),
    containers: snapshot && !('error' in snapshot) ? await readContainerCounters(snapshot.watched) : null,
    app,
    db: part.db,
    self: ownUsage(),
  };
}

/** This run's own CPU seconds and peak RSS so far (the history keeps them: our own cost, measured). */
function ownUsage(): { cpuSeconds: number; rssBytes: number } {
  const usage = process.resourceUsage();
  return { cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, rssBytes: usage.maxRSS * 1024 };
}
