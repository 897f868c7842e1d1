import { Command, Option } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { helpFooter } from '../core/help.js';
import { configureProgram, runCli } from '../core/cli.js';
import { loadConfig } from '../core/config.js';
import { UsageError } from '../core/errors.js';
import { gatherDashboard, gatherMetrics, type Dashboard, type MetricsOptions } from '../metrics/gather.js';

export { gatherMetrics, type MetricsOptions };
import { shouldColor, writeJson, writeText } from '../core/output.js';
import { parseDuration, parsePositiveInt } from '../core/units.js';
import { configuredDbUrl } from '../db/url.js';
import { DEFAULT_APP_WINDOW, parseAppWindow } from '../app/limits.js';
import { VERSION } from '../core/version.js';

/** The flags of `mizual-metrics` (also read by the docs test: every flag must be documented). */
export function buildProgram(): Command {
  return configureProgram(new Command('mizual-metrics'))
    .description('One-screen dashboard of this server: host, filesystems, network and containers.')
    .version(VERSION)
    .option('--json', 'print one JSON document')
    .option('--prometheus', 'print the Prometheus text exposition format')
    .addOption(new Option('--watch [seconds]', 'redraw every SECONDS (default 5)').preset('5'))
    .option('--no-docker', 'skip the container section')
    .option('--all-interfaces', 'show every network interface (idle bridges, veth, ifb included)')
    .option('--sample <ms>', 'CPU and network sampling interval in milliseconds', '500')
    .option('--cpu <percent>', 'CPU threshold for colouring (default MIZUAL_ALERT_CPU or 80)')
    .option('--memory <percent>', 'memory threshold for colouring (default MIZUAL_ALERT_MEMORY or 85)')
    .option('--disk <percent>', 'disk threshold for colouring (default MIZUAL_ALERT_DISK or 90)')
    .option('--db', 'the full database report (needs DATABASE_URL or MIZUAL_DATABASE_URL)')
    .option('--db-long <duration>', 'a query or idle transaction older than this is long', '30s')
    .option('--db-window <duration>', 'the window of the top statements', '1h')
    .option('--app-window <duration>', 'window of the application figures read from the logs', DEFAULT_APP_WINDOW)
    .option('--history', 'charts of the samples mizual-alerts kept (see --since, --until, --ascii, --html)')
    .option('--since <time>', 'with --history: from (RFC 3339, YYYY-MM-DD HH:MM UTC, or 6h back)', '24h')
    .option('--until <time>', 'with --history: to (default now)')
    .option('--ascii', 'with --history: plain ASCII charts (for a cron mail)')
    .option('--html <file>', 'with --history: write one self-contained HTML page instead')
    .option('--env-file <path>', 'read settings from this .env file')
    .option('--proc <dir>', 'procfs root (for testing)', '/proc')
    .option('--debug', 'print stack traces on errors')
    .addHelpText(
      'after',
      helpFooter('mizual-metrics', [
        ['mizual-metrics --watch', 'redraw every 5 s, in place'],
        ['mizual-metrics --history --since 6h', 'charts of what mizual-alerts kept'],
        ['mizual-metrics --prometheus', "for node_exporter's textfile collector"],
      ]),
    );
}

/** Entry point of `mizual-metrics`. */
export async function run(argv: string[]): Promise<void> {
  await runCli('mizual-metrics', argv, async (args) => {
    const program = buildProgram();
    program.parse(args);
    const opts = program.opts<{
      json?: boolean;
      prometheus?: boolean;
      watch?: string;
      docker: boolean;
      sample: string;
      cpu?: string;
      memory?: string;
      disk?: string;
      envFile?: string;
      proc: string;
      allInterfaces?: boolean;
      db?: boolean;
      dbLong: string;
      dbWindow: string;
      appWindow: string;
      history?: boolean;
      since: string;
      until?: string;
      ascii?: boolean;
      html?: string;
    }>();
    if (opts.history) {
      if (opts.prometheus || opts.watch !== undefined)
        throw new UsageError('--history goes with --json, --ascii or --html');
      return (await import('./metrics-history.js')).showHistory({ ...opts, envFile: opts.envFile });
    }
    const options: MetricsOptions = {
      envFile: opts.envFile,
      noDocker: !opts.docker,
      sampleMs: parsePositiveInt(opts.sample, '--sample', 60_000),
      procRoot: opts.proc,
      cpu: opts.cpu,
      memory: opts.memory,
      disk: opts.disk,
      allInterfaces: opts.allInterfaces,
      dbLongMs: parseDuration(opts.dbLong, '--db-long'),
      dbWindowMs: parseDuration(opts.dbWindow, '--db-window'),
      appWindowMs: parseAppWindow(opts.appWindow),
      costFigures: Boolean(opts.json || opts.prometheus),
    };
    if (opts.db && !configuredDbUrl(loadConfig({ envFileFlag: opts.envFile }).lookup)) {
      throw new UsageError('--db needs DATABASE_URL or MIZUAL_DATABASE_URL');
    }
    const dbRender = opts.db && !opts.json && !opts.prometheus ? await import('../metrics/db-render.js') : null;
    const { renderDashboard, renderPrometheus } = opts.json
      ? { renderDashboard: null, renderPrometheus: null }
      : await import('../metrics/render.js');
    const { renderAppExposition } = opts.prometheus
      ? await import('../app/exposition.js')
      : { renderAppExposition: null };
    const render = ({ report, spark, appTotals, appMetricsTotals }: Dashboard): string => {
      if (opts.json || !renderDashboard) return JSON.stringify(report, null, 2);
      if (opts.prometheus) {
        const app = appTotals || appMetricsTotals;
        return (
          renderPrometheus(report) +
          (app && renderAppExposition ? renderAppExposition(appTotals ?? undefined, appMetricsTotals ?? undefined) : '')
        );
      }
      if (dbRender && report.db) return dbRender.renderDbReport(report.db, shouldColor());
      return renderDashboard(report, shouldColor(), spark);
    };
    if (opts.json && opts.prometheus) throw new UsageError('choose one of --json and --prometheus');
    if (opts.watch === undefined) {
      const gathered = await gatherDashboard(options);
      // The dashboard shows a bad rules file; a --json or --prometheus cron job learns it on stderr, in one line.
      const ruleProblems = gathered.report.app?.problems.filter((p) => p.startsWith('MIZUAL_APP_RULES')) ?? [];
      if ((opts.json || opts.prometheus) && ruleProblems.length > 0) {
        const more = ruleProblems.length > 1 ? ` (and ${ruleProblems.length - 1} more)` : '';
        process.stderr.write(`mizual-metrics: ${ruleProblems[0]}${more}\n`);
      }
      if (opts.json) writeJson(gathered.report);
      else writeText(render(gathered));
      return 0;
    }
    const seconds = parsePositiveInt(opts.watch, '--watch', 86_400);
    const tty = Boolean(process.stdout.isTTY);
    if (tty) process.stdout.write('\x1b[2J');
    for (;;) {
      const started = Date.now();
      const text = render(await gatherDashboard(options));
      // Home + clear-to-end after drawing avoids the flicker of clearing first.
      process.stdout.write(tty ? `\x1b[H${text.replace(/\n/g, '\x1b[K\n')}\x1b[K\n\x1b[J` : `${text}\n\n`);
      await sleep(Math.max(0, seconds * 1000 - (Date.now() - started)));
    }
  });
}
