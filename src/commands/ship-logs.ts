import { Command } from 'commander';
import { configureProgram, runCli } from '../lib/cli.js';
import { MizualError } from '../lib/errors.js';
import { VERSION } from '../lib/version.js';

/** Entry point of `mizual-ship-logs` (not built yet: a later issue implements it). */
export async function run(argv: string[]): Promise<void> {
  await runCli('mizual-ship-logs', argv, async (args) => {
    const program = configureProgram(new Command('mizual-ship-logs')).version(VERSION).allowUnknownOption(true);
    program.parse(args);
    throw new MizualError('not implemented yet', 1);
  });
}
