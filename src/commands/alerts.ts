import { Command, Option } from 'commander';
import { longName, type CheckFlag } from '../alerts/check.js';
import { CHECKS } from '../alerts/checks/index.js';
import { RUN_FLAGS, runAlerts, UNKNOWN, type AlertsOptions, type AlertsReport } from '../alerts/run.js';
import { configureProgram, runCli } from '../core/cli.js';
import { loadConfig } from '../core/config.js';
import { EXIT_USAGE, MizualError, UsageError } from '../core/errors.js';
import { helpFooter } from '../core/help.js';
import { shouldColor, writeJson, writeText } from '../core/output.js';
import { VERSION } from '../core/version.js';

export type { AlertsOptions, AlertsReport };

/** Evaluate every check, and unless dryRun, log changes, keep state and notify. Prints nothing. */
export const checkAlerts = runAlerts;

/** A check's flag as a commander option: no commander default (the run parses the default, written once). */
function toOption(flag: CheckFlag<unknown>, group: string): Option {
  const shown = flag.variable ? `${flag.variable} or ${flag.default}` : flag.default;
  const option = new Option(flag.flag, `${flag.help} [${shown}]`).helpGroup(group);
  return flag.more ? option.hideHelp() : option;
}

/** The closing line of --help naming the finer settings it leaves out, wrapped at 80 columns. */
function moreFlags(flags: readonly CheckFlag<unknown>[]): string {
  const names = flags.filter((f) => f.more).map((f) => longName(f));
  if (names.length === 0) return '';
  const lines: string[] = [];
  let line = 'Also:';
  for (const name of names) {
    if (line.length + 1 + name.length > 80) {
      lines.push(line);
      line = ' ';
    }
    line += ` ${name}`;
  }
  return `\n${[...lines, line].join('\n')}\n`;
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
    .option('--test-notification', 'send each notification target a test message, print its answer; check nothing')
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
    moreFlags(CHECKS.flatMap((c) => Object.values(c.flags) as CheckFlag<unknown>[])) +
      helpFooter(
        'mizual-alerts',
        [
          ['mizual-alerts --dry-run', 'what would be logged; writes nothing'],
          ['mizual-alerts --json --no-docker', 'host checks as JSON'],
          ['mizual-alerts --test-notification', 'a test message to every target'],
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

/** `--test-notification`: one test message to every target; 0 when all accepted it, 1 otherwise. Writes nothing. */
async function testNotification(envFile: string | undefined, json: boolean): Promise<number> {
  const config = loadConfig({ envFileFlag: envFile });
  const { parseTargets } = await import('../alerts/notify/targets.js');
  const targets = parseTargets(config.webhookUrl, config.webhookFormat);
  if (targets.length === 0) {
    throw new UsageError('--test-notification needs MIZUAL_ALERT_WEBHOOK_URL (one or more targets) to be set');
  }
  const { sendTestNotification } = await import('../alerts/notify/deliver.js');
  const answers = await sendTestNotification(targets, { host: config.hostname, repeatMs: 0, now: new Date() });
  if (json) writeJson({ host: config.hostname, targets: answers });
  else writeText((await import('../alerts/render.js')).renderTestNotification(answers, shouldColor()));
  return answers.every((a) => a.ok) ? 0 : 1;
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
      const envFile = typeof o.envFile === 'string' ? o.envFile : undefined;
      if (o.testNotification) return testNotification(envFile, o.json === true);
      const report = await runAlerts({
        envFile,
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
