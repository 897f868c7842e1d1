import { Command } from 'commander';
import { helpFooter } from '../core/help.js';
import { configureProgram, runCli } from '../core/cli.js';
import { loadConfig, requireS3 } from '../core/config.js';
import { stdoutSink, writeJson, writeText } from '../core/output.js';
import { VERSION } from '../core/version.js';
import type { FetchOutput } from '../fetch/fetch.js';
import { parseFetchOptions, parseUsageOptions, type FetchOptions, type UsageOptions } from '../fetch/options.js';

const TOOL = 'mizual-fetch-logs';

/** `--usage`: what the bucket holds and costs per env and host. */
export async function fetchUsage(o: UsageOptions): Promise<number> {
  const config = loadConfig({ envFileFlag: o.envFile });
  const s3 = requireS3(config);
  const { createStore } = await import('../store/client.js');
  const { measureUsage } = await import('../fetch/usage.js');
  const { DEFAULT_FREE_GB } = await import('../core/cost.js');
  const { renderUsage } = await import('../fetch/render.js');
  const store = await createStore(s3);
  try {
    const report = await measureUsage(store, o.envs, {
      host: o.host,
      prices: { pricePerTb: o.pricePerTb, freeGb: DEFAULT_FREE_GB },
      retentionDays: config.retentionDays,
      nowMs: Date.now(),
      patterns: o.patterns,
    });
    if (o.json) writeJson(report);
    else writeText(renderUsage(report));
    return 0;
  } finally {
    store.close();
  }
}

function warn(line: string): void {
  process.stderr.write(`${TOOL}: ${line}\n`);
}

/** Run one invocation from explicit options; returns the exit code. */
export async function fetchLogs(o: FetchOptions): Promise<number> {
  const s3 = requireS3(loadConfig({ envFileFlag: o.envFile }));
  const { createStore } = await import('../store/client.js');
  const { fetchSelection } = await import('../fetch/fetch.js');
  const store = await createStore(s3);
  const out: FetchOutput = {
    json: writeJson,
    text: writeText,
    warn,
    progress: process.stderr.isTTY ? (line) => process.stderr.write(`\r\x1b[K${line}`) : undefined,
    sink: stdoutSink,
  };
  try {
    return await fetchSelection(store, s3.bucket, o, out);
  } finally {
    store.close();
  }
}

/** The flags of `mizual-fetch-logs` (also read by the docs test: every flag must be documented). */
export function buildProgram(): Command {
  return configureProgram(new Command(TOOL))
    .description('Find, download, verify, extract and read the log archives shipped by mizual-ship-logs.')
    .version(VERSION)
    .option('--env <env>', 'dev or prod (required, except with --usage)')
    .option('--date <YYYY-MM-DD>', 'UTC day of the archives')
    .option('--since <time>', 'from this time: RFC 3339, "YYYY-MM-DD HH:MM" UTC, or 2h ago')
    .option('--until <time>', 'to this time (default now); same forms as --since')
    .option('--host <name>', 'only this host (default: every host)')
    .option('--out <dir>', 'download directory', 'mizual-logs')
    .option('--list', 'list what is there instead of downloading')
    .option('--extract', 'unpack and verify each archive')
    .option('--cat', 'print the logs merged in timestamp order')
    .option('--container <name>', 'with --cat: only this container (or alerts)')
    .option('--grep <regex>', 'with --cat: only lines matching REGEX')
    .option('--usage', 'what the bucket holds and costs, per env, host and container')
    .option('--price-per-tb <usd>', 'with --usage: USD per TB-month (default 6; the first 10 GB free)')
    .option('--patterns', "with --usage: each container's top line shapes by bytes")
    .option('--json', 'print one JSON document')
    .option('--concurrency <n>', 'downloads in flight', '4')
    .option('--env-file <path>', 'read settings from this .env file')
    .option('--debug', 'print stack traces on errors')
    .addHelpText(
      'after',
      helpFooter(
        'mizual-fetch-logs',
        [
          ['mizual-fetch-logs --env prod --list', 'dates and hosts'],
          ['mizual-fetch-logs --env prod --since 2h --cat', 'last two hours'],
          ['mizual-fetch-logs --usage --patterns', 'what the logs cost, and their noisiest lines'],
        ],
        'Needs S3_BUCKET_NAME, S3_ENDPOINT_URL, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY.',
      ),
    );
}

/** Entry point of `mizual-fetch-logs`. */
export async function run(argv: string[]): Promise<void> {
  // `--list | head -1` must not crash on EPIPE; --cat installs its own handling as well.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  await runCli(TOOL, argv, async (args) => {
    const program = buildProgram();
    program.parse(args);
    const opts = program.opts();
    return opts.usage ? fetchUsage(parseUsageOptions(opts)) : fetchLogs(parseFetchOptions(opts));
  });
}
