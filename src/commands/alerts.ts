import { Command, Option } from 'commander';
import { longName, type CheckFlag } from '../alerts/check.js';
import { CHECKS } from '../alerts/checks/index.js';
import { RUN_FLAGS, runAlerts, UNKNOWN, type AlertsOptions, type AlertsReport } from '../alerts/run.js';
import { configureProgram, runCli } from '../core/cli.js';
import { EXIT_USAGE, MizualError } from '../core/errors.js';
import { helpFooter } from '../core/help.js';
import { shouldColor, writeJson, writeText } from '../core/output.js';
import { VERSION } from '../core/version.js';

export type { AlertsOptions, AlertsReport };

/** Evaluate every check, and unless dryRun, log changes, keep state and notify. Prints nothing. */
export const checkAlerts = runAlerts;

/** A check's flag as a commander option: no commander default (the run parses the default, written once). */
function toOption(flag: CheckFlag<unknown>, group: string): Option {
  const shown = flag.variable ? `${flag.variable} or ${flag.default}` : flag.default;
  return new Option(flag.flag, `${flag.help} [${shown}]`).helpGroup(group);
}

function buildProgram(): Command {
  const program = configureProgram(new Command('mizual-alerts'))
    .description(
      'Check the host, containers, app, database and shipping; log and notify changes.\nA threshold raises a WARNING unless it says CRITICAL; [the default].',
    )
    .version(VERSION)
    .optionsGroup('Options:');
  for (const flag of Object.values(RUN_FLAGS)) program.addOption(toOption(flag, 'Options:'));
  program
    .option('--no-docker', 'skip the Docker engine and container checks')
    .option('--json', 'print every check as one JSON document')
    .option('--dry-run', 'print only: no state, log line or webhook')
    .option('--env-file <path>', 'read settings from this .env file')
    .addOption(new Option('--proc <dir>', 'procfs root (for testing)').default('/proc').hideHelp())
    .addOption(new Option('--sys <dir>', 'sysfs root (for testing)').default('/sys').hideHelp())
    .option('--debug', 'print stack traces on errors');
  // The thresholds, grouped as the checks declare them; every flag is also on the man page.
  for (const check of CHECKS) {
    for (const flag of Object.values(check.flags) as CheckFlag<unknown>[]) {
      program.addOption(toOption(flag, check.group));
    }
  }
  return program.addHelpText(
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

/** The flags given on the command line, by long name: the run parses them (and the defaults) itself. */
function givenFlags(program: Command): Record<string, string | undefined> {
  const given: Record<string, string | undefined> = {};
  const flags = [...Object.values(RUN_FLAGS), ...CHECKS.flatMap((c) => Object.values(c.flags) as CheckFlag<unknown>[])];
  for (const flag of flags) {
    const long = longName(flag);
    const option = program.options.find((o) => o.long === long);
    const value = option ? program.getOptionValue(option.attributeName()) : undefined;
    if (typeof value === 'string') given[long] = value;
  }
  return given;
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
      const report = await runAlerts({
        envFile: typeof o.envFile === 'string' ? o.envFile : undefined,
        flags: givenFlags(program),
        noDocker: o.docker === false,
        dryRun: o.dryRun === true,
        procRoot: o.proc as string,
        sysRoot: o.sys as string,
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
