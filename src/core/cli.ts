import { CommanderError, type Command } from 'commander';
import { describeError, EXIT_USAGE, MizualError } from './errors.js';

export interface RunOptions {
  /** Exit code for usage errors (2, or 3 for mizual-alerts). */
  usageExitCode?: number;
  /** Exit code for unexpected failures (1, or 3 for mizual-alerts). */
  failureExitCode?: number;
}

/** Make commander report bad flags as one line and let us choose the exit code. */
export function configureProgram(program: Command): Command {
  return program
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeErr: () => {
        // Our top-level handler prints the one line; commander's own copy would duplicate it.
      },
    });
}

/** The one top-level handler: run, then turn any error into a single stderr line and an exit code. */
export async function runCli(
  tool: string,
  argv: string[],
  main: (argv: string[]) => Promise<number | void>,
  options: RunOptions = {},
): Promise<void> {
  const usageExitCode = options.usageExitCode ?? EXIT_USAGE;
  const debug = argv.includes('--debug');
  try {
    const code = await main(argv);
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        process.exitCode = 0;
        return;
      }
      const message = err.message.replace(/^error:\s*/, '');
      process.stderr.write(`${tool}: ${describeError(new Error(message))} (see ${tool} --help)\n`);
      process.exitCode = usageExitCode;
      return;
    }
    if (err instanceof MizualError) {
      process.stderr.write(`${tool}: ${describeError(err)}\n`);
      process.exitCode = err.exitCode === EXIT_USAGE ? usageExitCode : err.exitCode;
    } else {
      process.stderr.write(`${tool}: unexpected error: ${describeError(err)}\n`);
      process.exitCode = options.failureExitCode ?? 1;
    }
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  }
}
