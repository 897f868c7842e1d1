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
  taskFailureShare,
  MIN_TASKS,
  type AppLimits,
} from '../../app/limits.js';
import { defineCheck } from '../check.js';
import type { Observation } from '../state.js';
import type { Config } from '../../core/config.js';
import { parsePercent, parsePositiveInt } from '../../core/units.js';
import type { Snapshot } from '../../docker/snapshot.js';

/** One observation per web container and per task kind seen in the window. */
export function appObservations(app: AppReport, limits: AppLimits): Observation[] {
  const window = `${Math.round(app.window.seconds / 60)}m`;
  const out: Observation[] = [];
  for (const h of app.http) {
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
      out.push({
        check: `app-latency:${h.container}`,
        severity: 'warning',
        value: p95,
        threshold: limits.latencySeconds,
        failing: p95 >= limits.latencySeconds,
        message: `${h.container}: p95 response time ${formatSeconds(p95)} over the last ${window} (${h.requests} requests)`,
      });
    }
  }
  for (const t of app.tasks) {
    const share = taskFailureShare(t);
    const percent = share === null ? 0 : Math.round(share * 1000) / 10;
    out.push({
      check: `tasks:${t.task}`,
      severity: 'warning',
      value: percent,
      threshold: limits.taskFailuresPercent,
      failing: share !== null && percent >= limits.taskFailuresPercent,
      message: `${t.task}: ${t.failed} of ${t.succeeded + t.failed} runs failed (${percent}%), ${t.retried} retried in the last ${window}`,
      ...(share === null ? { note: `fewer than ${MIN_TASKS} runs: not judged` } : {}),
      data: { succeeded: t.succeeded, failed: t.failed, retried: t.retried, container: t.container },
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

/** The application checks, from the containers' new log lines (not with --no-docker). */
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
      help: 'failed share of a Celery task kind (of 5+)',
      default: String(DEFAULT_APP_LIMITS.taskFailuresPercent),
      parse: parsePercent,
    },
  },
  run: async (context, limits) => {
    if (!context.snapshot) return { observations: [] };
    const { observations, report } = await checkAppLogs({
      config: context.config,
      windowMs: limits.windowMs,
      limits,
      now: context.now,
      dryRun: context.dryRun,
      diagnostics: context.diagnostics,
      snapshot: context.snapshot,
    });
    return { observations, sample: { app: report } };
  },
});
