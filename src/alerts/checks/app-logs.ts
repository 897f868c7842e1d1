/**
 * The application checks: `app-errors:<container>`, `app-latency:<container>` and `tasks:<task>`,
 * judged on the figures of the window (`--app-window`) that src/app reads from the logs.
 */
import type { AppReport } from '../../app/model.js';
import {
  DEFAULT_APP_LIMITS,
  DEFAULT_APP_WINDOW,
  parseAppWindow,
  parseLatency,
  MIN_TASKS,
  type AppLimits,
} from '../../app/limits.js';
import { onePerContainer, parseAppMetrics, type AppMetricsCollection } from '../../app/app-metrics/collect.js';
import { outsideAppReport } from '../../app/outside.js';
import { judgeTasks } from '../../app/logs/celery.js';
import { WORKER_LOST_TASK } from '../../app/logs/formats.js';
import { defineCheck, shareOnce } from '../check.js';

/** The key of this run's application figures from the logs, for the checks that read them too. */
export const APP_LOGS_READ = 'app-logs';
import type { Observation } from '../state.js';
import type { Config } from '../../core/config.js';
import { parsePercent, parsePositiveInt } from '../../core/units.js';
import type { Snapshot } from '../../docker/snapshot.js';

/**
 * One observation per web container and per task kind seen in the window. A container read both from
 * its log and from its app's /metrics is judged on the app's histogram.
 */
export function appObservations(app: AppReport, limits: AppLimits): Observation[] {
  const window = `${Math.round(app.window.seconds / 60)}m`;
  const out: Observation[] = [];
  for (const h of onePerContainer(app.http)) {
    const percent = Math.round(h.errorRate * 1000) / 10;
    const enough = h.requests >= limits.minRequests;
    out.push({
      check: `app-errors:${h.container}`,
      severity: 'warning',
      value: percent,
      threshold: limits.errorRatePercent,
      failing: enough && percent >= limits.errorRatePercent,
      message: `${h.container}: ${percent}% of ${h.requests} requests failed with 5xx in the last ${window}`,
      ...(enough ? {} : { note: `fewer than ${limits.minRequests} requests: not judged` }),
      data: { requests: h.requests, errors: h.status['5xx'] },
    });
    if (h.duration) {
      const p95 = h.duration.p95;
      // One slow request is no p95: judged from --min-requests requests, as the error rate is.
      out.push({
        check: `app-latency:${h.container}`,
        severity: 'warning',
        value: p95,
        threshold: limits.latencySeconds,
        failing: enough && p95 >= limits.latencySeconds,
        message: `${h.container}: p95 response time ${formatSeconds(p95)} over the last ${window} (${h.requests} requests)`,
        ...(enough ? {} : { note: `fewer than ${limits.minRequests} requests: not judged` }),
      });
    }
  }
  // One check per task, whatever the number of worker containers.
  for (const v of judgeTasks(app.tasks, limits.taskFailuresPercent)) {
    const runs = v.succeeded + v.failed;
    const message =
      v.task === WORKER_LOST_TASK
        ? `${v.containers.join(', ')}: ${v.failed} task${v.failed === 1 ? '' : 's'} lost with a killed pool process (WorkerLostError: an OOM kill shows so) in the last ${window}`
        : `${v.task}: ${v.failed} of ${runs} runs failed (${v.percent}%), ${v.retried} retried in the last ${window}`;
    out.push({
      check: `tasks:${v.task}`,
      severity: 'warning',
      value: v.percent,
      threshold: limits.taskFailuresPercent,
      failing: v.failing,
      message,
      ...(v.rare ? { note: `fewer than ${MIN_TASKS} runs: any failure counts` } : {}),
      data: {
        succeeded: v.succeeded,
        failed: v.failed,
        retried: v.retried,
        expected: v.expected,
        containers: v.containers.join(','),
      },
    });
  }
  return out;
}

function formatSeconds(s: number): string {
  return s < 1 ? `${Math.round(s * 1000)}ms` : `${s.toFixed(2)}s`;
}

/** The application checks over the window, from the containers' new log lines (src/app reads them). */
export async function checkAppLogs(options: {
  config: Config;
  windowMs: number;
  limits: AppLimits;
  now: Date;
  dryRun: boolean;
  /** One line each for stderr: a malformed rule, an unreadable log. */
  diagnostics: string[];
  /** This run's look at the engine. */
  snapshot?: Promise<Snapshot>;
  /** The figures of the app's own /metrics (MIZUAL_APP_METRICS), judged with the log's. */
  fromMetrics?: Promise<AppMetricsCollection | null>;
}): Promise<{ observations: Observation[]; report: AppReport }> {
  const { config } = options;
  const [{ collectApp }, { createDockerClient }] = await Promise.all([
    import('../../app/logs/collect.js'),
    import('../../docker/client.js'),
  ]);
  const { report } = await collectApp({
    stateDir: config.stateDir,
    containers: config.containers,
    docker: createDockerClient({ host: config.dockerHost }),
    holdDir: config.holdDir,
    rulesFile: config.lookup('MIZUAL_APP_RULES'),
    windowMs: options.windowMs,
    now: options.now,
    readOnly: options.dryRun,
    snapshot: options.snapshot,
  });
  joinAppMetrics(report, await options.fromMetrics);
  const observations = appObservations(report, options.limits);
  const ruleProblems = report.problems.filter((p) => p.startsWith('MIZUAL_APP_RULES'));
  options.diagnostics.push(...report.problems);
  if (ruleProblems.length > 0) {
    observations.push({
      check: 'app-rules',
      severity: 'warning',
      value: ruleProblems.length,
      threshold: null,
      message: ruleProblems[0] as string,
      unknown: true,
    });
  }
  return { observations, report };
}

/** Add the app's own figures to the report read from the logs. */
function joinAppMetrics(report: AppReport, fromMetrics: AppMetricsCollection | null | undefined): void {
  if (!fromMetrics) return;
  report.http.push(...fromMetrics.http);
  report.problems.push(...fromMetrics.problems);
}

/**
 * The application checks, from the containers' new log lines (not with --no-docker) and the app's own
 * /metrics (MIZUAL_APP_METRICS, read alongside, with --no-docker too).
 */
export const appLogsCheck = defineCheck({
  name: 'app',
  group: 'Application checks:',
  flags: {
    windowMs: {
      flag: '--app-window <duration>',
      help: 'window read from the application logs',
      default: DEFAULT_APP_WINDOW,
      parse: (text: string) => parseAppWindow(text),
    },
    errorRatePercent: {
      flag: '--error-rate <percent>',
      help: "5xx share of a container's requests",
      default: String(DEFAULT_APP_LIMITS.errorRatePercent),
      parse: parsePercent,
    },
    minRequests: {
      flag: '--min-requests <count>',
      more: true,
      help: 'fewest requests to judge the error rate',
      default: String(DEFAULT_APP_LIMITS.minRequests),
      parse: parsePositiveInt,
    },
    latencySeconds: {
      flag: '--latency <duration>',
      help: "a container's p95 response time",
      default: `${DEFAULT_APP_LIMITS.latencySeconds}s`,
      parse: (text: string) => parseLatency(text),
    },
    taskFailuresPercent: {
      flag: '--task-failures <percent>',
      help: 'failed share of a Celery task (of 5+ runs)',
      default: String(DEFAULT_APP_LIMITS.taskFailuresPercent),
      parse: parsePercent,
    },
  },
  validate: (config) => void parseAppMetrics(config.lookup('MIZUAL_APP_METRICS')),
  run: async (context, limits) => {
    const { config, now, dryRun } = context;
    const fromMetrics = config.lookup('MIZUAL_APP_METRICS')?.trim()
      ? import('../../app/app-metrics/collect.js').then((m) =>
          m.collectConfiguredAppMetrics(config, {
            windowMs: limits.windowMs,
            now,
            readOnly: dryRun,
            dial: context.dial,
          }),
        )
      : Promise.resolve(null);
    // Awaited below; until then a failure must not count as unhandled.
    fromMetrics.catch(() => undefined);
    if (!context.snapshot) {
      const got = await fromMetrics;
      if (!got) return { observations: [] };
      const none = { probes: [], queues: [], problems: [], brokerProblem: null, healthProbe: null };
      const report = outsideAppReport(none, now.getTime(), limits.windowMs);
      joinAppMetrics(report, got);
      context.diagnostics.push(...got.problems);
      return { observations: appObservations(report, limits), sample: { app: report } };
    }
    const { snapshot } = context;
    const { observations, report } = await shareOnce(context, APP_LOGS_READ, () =>
      checkAppLogs({
        config,
        windowMs: limits.windowMs,
        limits,
        now,
        dryRun,
        diagnostics: context.diagnostics,
        snapshot,
        fromMetrics,
      }),
    );
    return { observations, sample: { app: report } };
  },
});
