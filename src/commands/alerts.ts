import { Command, Option } from 'commander';
import path from 'node:path';
import { helpFooter } from '../core/help.js';
import { runChecks } from '../alerts/checks.js';
import { appendAlertLines, DEFAULT_LOG_MAX_BYTES, formatAlertLine, parseSize } from '../alerts/log.js';
import { applyObservations, exitCodeFor, loadAlertState, saveAlertState } from '../alerts/state.js';
import type { CheckResult } from '../alerts/state.js';
import { configureProgram, runCli } from '../core/cli.js';
import { loadConfig } from '../core/config.js';
import { lookAtEngine, rememberWatched, type EngineLook } from '../docker/watched.js';
import { EXIT_USAGE, MizualError } from '../core/errors.js';
import { shouldColor, writeJson, writeText } from '../core/output.js';
import { acquireLock } from '../core/lock.js';
import { resolveThresholds, type Thresholds } from '../core/thresholds.js';
import { parseDuration, parsePercent, parsePositiveInt, parsePositiveNumber } from '../core/units.js';
import { dbCheckOptions } from '../alerts/db-checks.js';
import { VERSION } from '../core/version.js';
import type { DeliveryReport } from '../alerts/webhook.js';
import { DEFAULT_LIMITS, type TrendLimits } from '../alerts/trends.js';
import { DEFAULT_OUTSIDE_LIMITS, startOutsideChecks, type OutsideLimits } from '../alerts/outside-checks.js';
import { DEFAULT_APP_LIMITS, DEFAULT_APP_WINDOW, parseAppWindow, parseLatency, type AppLimits } from '../app/limits.js';
import { emptyTrends } from '../core/trends.js';
import { recordRun } from '../history/record.js';
import { checkAppLogs } from '../alerts/app-checks.js';
import { outsideAppReport } from '../app/outside.js';
import { loadRecentHistory, trendsFromHistory } from '../history/store.js';

const UNKNOWN = 3;
const STATUS_NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

export interface AlertsOptions {
  envFile?: string;
  cpu?: string;
  memory?: string;
  disk?: string;
  cpuFor?: number;
  cpuSampleMs?: number;
  repeatMs?: number;
  shipMaxAgeMs?: number;
  logMaxBytes?: number;
  noDocker?: boolean;
  dryRun?: boolean;
  procRoot?: string;
  sysRoot?: string;
  now?: Date;
  /** `--db-long`, `--db-window`, `--db-connections` (the database checks run only with a database URL). */
  db?: { longMs: number; windowMs: number; connectionsPercent: number };
  /** `--restarts`, `--disk-days`, `--net-in`, `--net-out`, `--health-slow`, `--docker-log-size`. */
  limits?: Partial<TrendLimits>;
  /** `--probe-slow`, `--cert-days`, `--queue-backlog`. */
  outsideLimits?: Partial<OutsideLimits>;
  /** `--error-rate`, `--min-requests`, `--latency`, `--task-failures`. */
  appLimits?: Partial<AppLimits>;
  /** `--app-window` in ms. */
  appWindowMs?: number;
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

/** Evaluate every check, and unless dryRun, log changes, keep state and notify. Prints nothing. */
export async function checkAlerts(options: AlertsOptions): Promise<AlertsReport> {
  const configured = loadConfig({ envFileFlag: options.envFile });
  const thresholds = resolveThresholds(options, configured);
  const limits: TrendLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const now = options.now ?? new Date();
  const repeatMs = options.repeatMs ?? 3_600_000;
  const dryRun = Boolean(options.dryRun);
  const historyDays = parsePositiveInt(configured.lookup('MIZUAL_HISTORY_DAYS') ?? '7', 'MIZUAL_HISTORY_DAYS');
  // Resolve the format before any work so a bad MIZUAL_ALERT_WEBHOOK_FORMAT is a usage error.
  const webhookLib = configured.webhookUrl ? await import('../alerts/webhook.js') : null;
  const format =
    webhookLib && configured.webhookUrl
      ? webhookLib.resolveWebhookFormat(configured.webhookFormat, configured.webhookUrl)
      : null;
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
    // The watched containers (MIZUAL_CONTAINERS, else discovered, those seen before included) and the
    // Compose names of the URLs, from one look at the engine.
    look = await lookAtEngine(configured, { noDocker: options.noDocker, remembered: loaded.state.watched });
    const config = { ...configured, containers: look.watched.containers };
    const dial = look.hosts.dial.bind(look.hosts);
    if (loaded.problem) diagnostics.push(loaded.problem);
    const lastRun = loaded.state.updatedAt ? Date.parse(loaded.state.updatedAt) : NaN;
    // The trend checks read the history's samples; before the first history, what the old state kept.
    diagnostics.push(...history.problems);
    const before =
      history.segments.length > 0
        ? trendsFromHistory(history.segments, now.getTime())
        : (loaded.state.trends ?? emptyTrends());

    // Probes and the broker run alongside the other checks: a run costs the slowest of them, not their sum.
    const outside = startOutsideChecks({
      config,
      dial,
      record: !dryRun,
      now,
      limits: { ...DEFAULT_OUTSIDE_LIMITS, ...options.outsideLimits },
    });
    // The application's new log lines are read meanwhile too.
    const appFromLogs = options.noDocker
      ? null
      : checkAppLogs({
          config,
          windowMs: options.appWindowMs ?? parseAppWindow(DEFAULT_APP_WINDOW),
          limits: { ...DEFAULT_APP_LIMITS, ...options.appLimits },
          now,
          dryRun,
          diagnostics,
        });
    // Awaited below; until then a failure must not count as unhandled.
    appFromLogs?.catch(() => undefined);
    const { observations, cpu, trends, readings, db } = await runChecks({
      procRoot: options.procRoot,
      sysRoot: options.sysRoot,
      limits,
      trends: before,
      lastRunMs: Number.isFinite(lastRun) ? lastRun : null,
      thresholds,
      cpuFor: options.cpuFor ?? 2,
      cpuSampleMs: options.cpuSampleMs ?? 3_000,
      previousCpu: loaded.state.cpu,
      containers: options.noDocker ? null : config.containers,
      dockerHost: config.dockerHost,
      healthUrl: config.healthUrl,
      stateDir: config.stateDir,
      shipMaxAgeMs: options.shipMaxAgeMs ?? 3_600_000,
      now,
      db: dbCheckOptions(config.lookup, config.isSet, options.db, dryRun),
      dial,
    });
    const outsideChecked = await outside;
    observations.push(...outsideChecked.observations);
    diagnostics.push(...outsideChecked.problems);
    const fromLogs = await appFromLogs;
    if (fromLogs) observations.push(...fromLogs.observations);
    // The history's sample keeps the application figures (logs, probes, queues) and the database's.
    const { queues, probes } = outsideChecked.figures;
    const app = fromLogs
      ? { ...fromLogs.report, queues, probes }
      : outsideAppReport(outsideChecked.figures, now.getTime(), options.appWindowMs);
    const { results, events, records } = applyObservations(loaded.state.checks, observations, now, repeatMs);
    const logged = events.map((e) => formatAlertLine(now, e.severity, e.check, e.message));
    let webhook: DeliveryReport | null = null;
    if (!dryRun) {
      // The log line first: a failing webhook or state write must never lose it.
      await appendAlertLines(config.alertLog, logged, { maxBytes: options.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES });
      await Promise.all([
        saveAlertState(config.stateDir, {
          version: 1,
          updatedAt: now.toISOString(),
          checks: records,
          cpu,
          // Discovered containers are remembered, so one that disappears stays CRITICAL.
          watched:
            look.watched.explicit || look.problem || options.noDocker
              ? loaded.state.watched
              : rememberWatched(config.containers),
        }),
        // A history that cannot be written costs the charts a sample, never the alerts.
        recordRun(history, {
          nowMs: now.getTime(),
          readings: { ...readings, app, db: db ?? undefined },
          before,
          after: trends,
          days: historyDays,
        }).catch((err: unknown) =>
          diagnostics.push(`history not recorded: ${err instanceof Error ? err.message : String(err)}`),
        ),
      ]);
      if (webhookLib && format && config.webhookUrl) {
        webhook = await webhookLib.deliverNotifications({
          url: config.webhookUrl,
          format,
          stateDir: config.stateDir,
          events,
          ctx: { host: config.hostname, repeatMs },
          now,
        });
        if (webhook.outboxProblem) diagnostics.push(webhook.outboxProblem);
        if (webhook.error) {
          diagnostics.push(`webhook ${webhook.target} failed (${webhook.error}); ${webhook.queued} kept in the outbox`);
        }
        if (webhook.dropped > 0) {
          const line = formatAlertLine(
            now,
            'WARNING',
            'webhook',
            `dropped ${webhook.dropped} undelivered notifications`,
          );
          await appendAlertLines(config.alertLog, [line], { maxBytes: options.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES });
          logged.push(line);
        }
      }
    }
    const exitCode = exitCodeFor(results);
    const status = STATUS_NAMES[exitCode];
    return {
      host: config.hostname,
      time: now.toISOString(),
      status,
      exitCode,
      dryRun,
      thresholds,
      limits,
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

function buildProgram(): Command {
  return configureProgram(new Command('mizual-alerts'))
    .description('Check CPU, memory, filesystems, containers, the health URL and log shipping; log and notify changes.')
    .version(VERSION)
    .option('--cpu <percent>', 'CPU busy threshold, WARNING (default MIZUAL_ALERT_CPU or 80)')
    .option('--memory <percent>', 'memory used threshold, WARNING (default MIZUAL_ALERT_MEMORY or 85)')
    .option('--disk <percent>', 'filesystem space and inode threshold, CRITICAL (default MIZUAL_ALERT_DISK or 90)')
    .option('--cpu-for <runs>', 'raise the CPU WARNING after this many consecutive runs above the threshold', '2')
    .option(
      '--cpu-sample <duration>',
      'CPU sampling wait when the previous run is older than 15m (0: never wait)',
      '3s',
    )
    .option('--repeat <duration>', 'repeat a still-active alert in the log at most this often', '1h')
    .option('--restarts <count>', 'WARNING when a container restarted this often within an hour', '3')
    .option('--disk-days <days>', 'WARNING when a filesystem fills within this many days at the last 24h rate', '7')
    .option('--net-in <size>', 'WARNING when an interface receives more than this per rolling hour', '1G')
    .option('--net-out <size>', 'WARNING when an interface sends more than this per rolling hour', '5G')
    .option('--health-slow <duration>', 'WARNING when MIZUAL_HEALTH_URL answers slower than this', '2s')
    .option('--probe-slow <duration>', 'WARNING when a probe of MIZUAL_PROBES answers slower than this', '2s')
    .option('--cert-days <days>', "WARNING when a probed https URL's certificate expires within this many days", '14')
    .option('--queue-backlog <count>', 'WARNING when this many messages wait in a Celery queue', '100')
    .option('--docker-log-size <size>', "WARNING when a container's json-file logs (all generations) pass this", '1G')
    .option('--app-window <duration>', 'window of the application checks read from the logs', DEFAULT_APP_WINDOW)
    .option('--error-rate <percent>', "WARNING when this share of a container's requests answer 5xx", '5')
    .option('--min-requests <count>', 'judge the error rate only from this many requests in the window', '20')
    .option('--latency <duration>', "WARNING when a container's p95 response time reaches this", '2s')
    .option('--task-failures <percent>', 'WARNING when this share of a Celery task kind failed (of at least 5)', '10')
    .option('--ship-max-age <duration>', 'WARNING when the last successful log upload is older than this', '1h')
    .option('--log-max-size <size>', 'rotate the alert log (log.1 … log.5) before it grows past this', '10M')
    .option('--db-long <duration>', 'WARNING for a query or idle transaction (or lock wait) older than this', '30s')
    .option('--db-window <duration>', 'the window of the top statements', '1h')
    .option('--db-connections <percent>', 'WARNING when this share of the usable connections is in use', '80')
    .option('--no-docker', 'skip the Docker engine and container checks')
    .option('--json', 'print every check as one JSON document')
    .option('--dry-run', 'evaluate and print; write no state, log line or webhook')
    .option('--env-file <path>', 'read settings from this .env file')
    .addOption(new Option('--proc <dir>', 'procfs root (for testing)').default('/proc').hideHelp())
    .addOption(new Option('--sys <dir>', 'sysfs root (for testing)').default('/sys').hideHelp())
    .option('--debug', 'print stack traces on errors')
    .addHelpText(
      'after',
      helpFooter(
        'mizual-alerts',
        [
          ['mizual-alerts --dry-run', 'what would be logged; writes nothing'],
          ['mizual-alerts --json --no-docker', 'host checks as JSON'],
          ['mizual-alerts --memory 90 --repeat 30m', 'other limits (cron: crontab.example)'],
        ],
        'Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (including usage errors).',
      ),
    );
}

/** Entry point of `mizual-alerts`: monitoring-plugin exit codes, 3 for usage errors and failures. */
export async function run(argv: string[]): Promise<void> {
  await runCli(
    'mizual-alerts',
    argv,
    async (args) => {
      const program = buildProgram();
      program.parse(args);
      const o = program.opts<Record<string, string | boolean | undefined>>();
      const str = (key: string): string | undefined => (typeof o[key] === 'string' ? (o[key] as string) : undefined);
      const sample = str('cpuSample') ?? '3s';
      const report = await checkAlerts({
        envFile: str('envFile'),
        cpu: str('cpu'),
        memory: str('memory'),
        disk: str('disk'),
        cpuFor: parsePositiveInt(str('cpuFor') ?? '2', '--cpu-for'),
        cpuSampleMs: /^0+(\.0*)?[smhd]?$/.test(sample.trim()) ? 0 : parseDuration(sample, '--cpu-sample'),
        repeatMs: parseDuration(str('repeat') ?? '1h', '--repeat'),
        shipMaxAgeMs: parseDuration(str('shipMaxAge') ?? '1h', '--ship-max-age'),
        logMaxBytes: parseSize(str('logMaxSize') ?? '10M', '--log-max-size'),
        noDocker: o.docker === false,
        dryRun: o.dryRun === true,
        procRoot: str('proc'),
        sysRoot: str('sys'),
        db: {
          longMs: parseDuration(str('dbLong') ?? '30s', '--db-long'),
          windowMs: parseDuration(str('dbWindow') ?? '1h', '--db-window'),
          connectionsPercent: parsePercent(str('dbConnections') ?? '80', '--db-connections'),
        },
        appWindowMs: parseAppWindow(str('appWindow') ?? DEFAULT_APP_WINDOW),
        appLimits: {
          errorRatePercent: parsePercent(str('errorRate') ?? '5', '--error-rate'),
          minRequests: parsePositiveInt(str('minRequests') ?? '20', '--min-requests'),
          latencySeconds: parseLatency(str('latency') ?? '2s'),
          taskFailuresPercent: parsePercent(str('taskFailures') ?? '10', '--task-failures'),
        },
        limits: {
          restarts: parsePositiveInt(str('restarts') ?? '3', '--restarts'),
          diskDays: parsePositiveNumber(str('diskDays') ?? '7', '--disk-days'),
          netInBytes: parseSize(str('netIn') ?? '1G', '--net-in'),
          netOutBytes: parseSize(str('netOut') ?? '5G', '--net-out'),
          healthSlowMs: parseDuration(str('healthSlow') ?? '2s', '--health-slow'),
          dockerLogBytes: parseSize(str('dockerLogSize') ?? '1G', '--docker-log-size'),
        },
        outsideLimits: {
          probeSlowMs: parseDuration(str('probeSlow') ?? '2s', '--probe-slow'),
          certDays: parsePositiveNumber(str('certDays') ?? '14', '--cert-days'),
          queueBacklog: parsePositiveInt(str('queueBacklog') ?? '100', '--queue-backlog'),
        },
      }).catch((err: unknown) => {
        // Any failure (state dir not writable, /proc unreadable) is UNKNOWN for a monitoring plugin.
        if (err instanceof MizualError && err.exitCode !== EXIT_USAGE) throw new MizualError(err.message, UNKNOWN);
        throw err;
      });
      for (const line of report.diagnostics) process.stderr.write(`mizual-alerts: ${line}\n`);
      if (o.json) writeJson(report);
      else writeText((await import('../alerts/render.js')).renderAlerts(report, shouldColor()));
      return report.exitCode;
    },
    { usageExitCode: UNKNOWN, failureExitCode: UNKNOWN },
  );
}

/** The flags of `mizual-alerts`, for the docs test: every flag must be documented. */
export { buildProgram };
