import { Command, Option } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { helpFooter } from '../core/help.js';
import { configureProgram, runCli } from '../core/cli.js';
import { loadConfig } from '../core/config.js';
import { UsageError } from '../core/errors.js';
import { collectMetrics, type MetricsReport } from '../metrics/report.js';
import { shouldColor, writeJson, writeText } from '../core/output.js';
import { resolveThresholds } from '../core/thresholds.js';
import { readAlertTrends } from '../core/trends.js';
import { parsePositiveInt } from '../core/units.js';
import { VERSION } from '../core/version.js';

export interface MetricsOptions {
  envFile?: string;
  noDocker?: boolean;
  sampleMs?: number;
  procRoot?: string;
  cpu?: string;
  memory?: string;
  disk?: string;
  allInterfaces?: boolean;
}

/** Gather one report from explicit options (no printing). */
export async function gatherMetrics(options: MetricsOptions): Promise<MetricsReport> {
  const config = loadConfig({ envFileFlag: options.envFile });
  // Loaded only when used, so --no-docker starts as fast as plain node.
  const docker = options.noDocker
    ? null
    : (await import('../metrics/containers.js')).createDockerSource(config.dockerHost, config.holdDir);
  return collectMetrics({
    trends: await readAlertTrends(config.stateDir),
    allInterfaces: options.allInterfaces,
    host: config.hostname,
    procRoot: options.procRoot,
    intervalMs: options.sampleMs ?? 500,
    thresholds: resolveThresholds(options, config),
    containers: config.containers,
    docker,
  });
}

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
    .option('--env-file <path>', 'read settings from this .env file')
    .option('--proc <dir>', 'procfs root (for testing)', '/proc')
    .option('--debug', 'print stack traces on errors')
    .addHelpText(
      'after',
      helpFooter('mizual-metrics', [
        ['mizual-metrics --watch', 'redraw every 5 s, in place'],
        ['mizual-metrics --json --no-docker', 'host figures as JSON'],
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
    }>();
    const options: MetricsOptions = {
      envFile: opts.envFile,
      noDocker: !opts.docker,
      sampleMs: parsePositiveInt(opts.sample, '--sample'),
      procRoot: opts.proc,
      cpu: opts.cpu,
      memory: opts.memory,
      disk: opts.disk,
      allInterfaces: opts.allInterfaces,
    };
    const { renderDashboard, renderPrometheus } = opts.json
      ? { renderDashboard: null, renderPrometheus: null }
      : await import('../metrics/render.js');
    const render = (report: MetricsReport): string => {
      if (opts.json || !renderDashboard) return JSON.stringify(report, null, 2);
      if (opts.prometheus) return renderPrometheus(report);
      return renderDashboard(report, shouldColor());
    };
    if (opts.json && opts.prometheus) throw new UsageError('choose one of --json and --prometheus');
    if (opts.watch === undefined) {
      const report = await gatherMetrics(options);
      if (opts.json) writeJson(report);
      else writeText(render(report));
      return 0;
    }
    const seconds = parsePositiveInt(opts.watch, '--watch');
    const tty = Boolean(process.stdout.isTTY);
    if (tty) process.stdout.write('\x1b[2J');
    for (;;) {
      const started = Date.now();
      const text = render(await gatherMetrics(options));
      // Home + clear-to-end after drawing avoids the flicker of clearing first.
      process.stdout.write(tty ? `\x1b[H${text.replace(/\n/g, '\x1b[K\n')}\x1b[K\n\x1b[J` : `${text}\n\n`);
      await sleep(Math.max(0, seconds * 1000 - (Date.now() - started)));
    }
  });
}
