// What one `mizual-metrics` run gathers: the host and containers, the application's figures (logs,
// probes, broker), the database's, and the last hour's sparklines from the kept history.
import { loadConfig, type Config } from '../core/config.js';
import type { AppMetricsCollection, AppMetricsTotals } from '../app/app-metrics/collect.js';
import { readHostFigures } from '../host/index.js';
import { lookAtEngine } from '../docker/watched.js';
import type { DialFn } from '../docker/compose-hosts.js';
import { collectMetrics, type MetricsReport } from './report.js';
import { resolveThresholds } from '../core/thresholds.js';
import { readAlertTrends } from '../core/trends.js';
import { configuredDbUrl } from '../db/url.js';
import type { Totals } from '../app/logs/tally.js';
import { DEFAULT_APP_WINDOW, parseAppWindow } from '../app/limits.js';
import { sparklines } from '../history/sparkline.js';
import { loadRecentHistory, trendsFromHistory } from '../history/store.js';

export interface MetricsOptions {
  envFile?: string;
  noDocker?: boolean;
  sampleMs?: number;
  procRoot?: string;
  cpu?: string;
  memory?: string;
  disk?: string;
  allInterfaces?: boolean;
  /** --db-long and --db-window. */
  dbLongMs?: number;
  dbWindowMs?: number;
  /** `--app-window` in ms (default 5m). */
  appWindowMs?: number;
  /** Add memory right-sizing, our own footprint and the logs' cost (a week of history is read). */
  costFigures?: boolean;
}

/** One gathering: the report, the last hour's sparklines, and the application's cumulative totals. */
export interface Dashboard {
  report: MetricsReport;
  spark: (key: string) => string;
  /** For --prometheus (kept out of --json); null without the logs' figures. */
  appTotals: Totals | null;
  /** The cumulative counts read from MIZUAL_APP_METRICS, for --prometheus; null when none is configured. */
  appMetricsTotals: AppMetricsTotals[] | null;
}

/** Read MIZUAL_APP_METRICS (a bad value rejects with its usage error), or null when unset. */
function startAppMetrics(config: Config, windowMs: number, dial: DialFn): Promise<AppMetricsCollection | null> | null {
  const value = config.lookup('MIZUAL_APP_METRICS');
  if (!value?.trim()) return null;
  const collected = import('../app/app-metrics/collect.js').then((m) =>
    m.collectConfiguredAppMetrics(config, { windowMs, dial }),
  );
  // Awaited after the other figures; a usage error must not count as unhandled meanwhile.
  collected.catch(() => undefined);
  return collected;
}

/** Gather one report from explicit options (no printing). */
export async function gatherMetrics(options: MetricsOptions): Promise<MetricsReport> {
  return (await gatherDashboard(options)).report;
}

/** The report and the last hour's sparklines from the kept history (the forecasts read the same samples). */
export async function gatherDashboard(options: MetricsOptions): Promise<Dashboard> {
  const configured = loadConfig({ envFileFlag: options.envFile });
  // The CPU and network sample (its interval is most of a run) starts first; everything else overlaps it.
  const hostFigures = readHostFigures({
    procRoot: options.procRoot,
    intervalMs: options.sampleMs ?? 500,
    keepVeth: options.allInterfaces,
  });
  // Awaited in collectMetrics; until then a failure must not count as unhandled.
  hostFigures.catch(() => undefined);
  // The watched containers (MIZUAL_CONTAINERS, else discovered) and the URLs' Compose names: one engine list.
  const [recent, look] = await Promise.all([
    loadRecentHistory(configured.stateDir).then((h) => h.segments),
    lookAtEngine(configured, { noDocker: options.noDocker }),
  ]);
  const config = { ...configured, containers: look.watched.containers };
  const dial = look.hosts.dial.bind(look.hosts);
  // Loaded only when used, so --no-docker starts as fast as plain node.
  const docker = options.noDocker
    ? null
    : (await import('./containers.js')).createDockerSource(config.dockerHost, config.holdDir);
  const dbUrl = configuredDbUrl(config.lookup, config.isSet);
  // pg is loaded only when a database is configured.
  const db = dbUrl
    ? import('../db/report.js').then((m) =>
        m.collectDb({
          ...dbUrl,
          stateDir: config.stateDir,
          longMs: options.dbLongMs ?? 30_000,
          windowMs: options.dbWindowMs ?? 3_600_000,
          now: new Date(),
          keep: false,
          dial,
        }),
      )
    : null;
  const windowMs = options.appWindowMs ?? parseAppWindow(DEFAULT_APP_WINDOW);
  // Probes and the broker are asked while the host and containers are sampled, with the alerts' timeout.
  const outside = import('../app/outside.js').then((m) => ({ m, figures: m.collectOutside({ config, dial }) }));
  // The application figures are read from the logs meanwhile, the outside ones joined to them.
  const app = docker
    ? import('../app/logs/collect.js').then(async ({ collectApp }) =>
        collectApp({
          stateDir: config.stateDir,
          containers: config.containers,
          docker: (await import('../docker/client.js')).createDockerClient({ host: config.dockerHost }),
          holdDir: config.holdDir,
          rulesFile: config.lookup('MIZUAL_APP_RULES'),
          windowMs,
          extras: outside.then((o) => o.figures),
        }),
      )
    : outside.then(async ({ m, figures }) => ({
        report: m.outsideAppReport(await figures, Date.now(), windowMs),
        totals: null,
      }));
  // The app's own /metrics endpoints are read meanwhile too (nothing loaded when none is configured).
  const appMetrics = startAppMetrics(config, windowMs, dial);
  const [report, collected] = await Promise.all([
    collectMetrics({
      trends: recent.length > 0 ? trendsFromHistory(recent, Date.now()) : await readAlertTrends(config.stateDir),
      allInterfaces: options.allInterfaces,
      host: config.hostname,
      procRoot: options.procRoot,
      intervalMs: options.sampleMs ?? 500,
      thresholds: resolveThresholds(options, config),
      containers: config.containers,
      docker,
      hostFigures,
    }),
    app,
  ]);
  report.app = collected.report;
  const fromMetrics = await appMetrics;
  if (fromMetrics) {
    report.app.http.push(...fromMetrics.http);
    report.app.problems.push(...fromMetrics.problems);
  }
  if (db) report.db = await db;
  if (options.costFigures) {
    const { costFigures } = await import('./cost.js');
    const { loadHistory } = await import('../history/store.js');
    Object.assign(
      report,
      await costFigures({
        segments: (await loadHistory(config.stateDir)).segments,
        containers: report.containers.filter((c) => c.state !== 'missing'),
        nowMs: Date.parse(report.time),
        stateDir: config.stateDir,
        retentionDays: config.retentionDays,
      }),
    );
  }
  if (!options.noDocker) {
    report.watch = {
      source: look.watched.explicit ? 'MIZUAL_CONTAINERS' : 'discovered',
      defaultsNotFound: look.watched.defaultsNotFound,
    };
  }
  report.reachedThrough = await look.hosts.reached();
  look.close();
  return {
    report,
    spark: sparklines(recent, Date.parse(report.time)),
    appTotals: collected.totals ?? null,
    appMetricsTotals: fromMetrics?.totals ?? null,
  };
}
