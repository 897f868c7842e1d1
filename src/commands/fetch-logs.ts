import { Command } from 'commander';
import path from 'node:path';
import { helpFooter } from '../core/help.js';
import { configureProgram, runCli } from '../core/cli.js';
import { loadConfig, requireS3 } from '../core/config.js';
import { UsageError } from '../core/errors.js';
import type { DownloadOutcome } from '../fetch/download.js';
import type { ExtractResult } from '../fetch/extract.js';
import { parseRange, type TimeRange } from '../fetch/range.js';
import { isValidDate, type LogEnv } from '../archive/contract.js';
import { stdoutSink, writeJson, writeText } from '../core/output.js';
import { DEFAULT_PRICE_PER_TB } from '../fetch/usage.js';
import { parsePositiveInt } from '../core/units.js';
import { VERSION } from '../core/version.js';

const TOOL = 'mizual-fetch-logs';

export interface FetchOptions {
  env: LogEnv;
  date?: string;
  /** `--since`/`--until`, instead of `--date`. */
  range?: TimeRange;
  host?: string;
  out: string;
  list?: boolean;
  extract?: boolean;
  cat?: boolean;
  container?: string;
  grep?: RegExp;
  json?: boolean;
  concurrency: number;
  envFile?: string;
}

/** Check the flags before anything touches the network; every mistake is exit 2 with the expected form. */
export function parseFetchOptions(o: Record<string, string | boolean | undefined>): FetchOptions {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const env = str(o.env);
  if (env === undefined) throw new UsageError('--env is required (dev or prod)');
  if (env !== 'dev' && env !== 'prod') throw new UsageError(`--env must be dev or prod (got '${env}')`);
  const date = str(o.date);
  const range = parseRange(str(o.since), str(o.until));
  if (range && date !== undefined) throw new UsageError('choose one of --date and --since/--until');
  if (date === undefined && !range && !o.list) {
    throw new UsageError('--date is required (YYYY-MM-DD), or use --since or --list');
  }
  if (date !== undefined && !isValidDate(date)) throw new UsageError(`--date must be YYYY-MM-DD (got '${date}')`);
  const host = str(o.host);
  if (host !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(host)) {
    throw new UsageError(`--host must be a host name: letters, digits, '.', '_' or '-' (got '${host}')`);
  }
  let grep: RegExp | undefined;
  if (str(o.grep) !== undefined) {
    try {
      grep = new RegExp(str(o.grep) as string);
    } catch (err) {
      throw new UsageError(`--grep is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  if (o.list && (o.extract || o.cat)) throw new UsageError('--list cannot be combined with --extract or --cat');
  if (o.json && o.cat) throw new UsageError('choose one of --json and --cat');
  if (!o.cat && (o.container !== undefined || grep)) throw new UsageError('--container and --grep need --cat');
  return {
    env,
    date,
    range,
    host,
    out: str(o.out) ?? 'mizual-logs',
    list: Boolean(o.list),
    extract: Boolean(o.extract),
    cat: Boolean(o.cat),
    container: str(o.container),
    grep,
    json: Boolean(o.json),
    concurrency: parsePositiveInt(str(o.concurrency) ?? '4', '--concurrency'),
    envFile: str(o.envFile),
  };
}

export interface UsageOptions {
  envs: LogEnv[];
  host?: string;
  pricePerTb: number;
  json: boolean;
  envFile?: string;
}

/** The flags of `--usage` (every env unless --env names one); the download flags do not go with it. */
export function parseUsageOptions(o: Record<string, string | boolean | undefined>): UsageOptions {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  for (const flag of ['date', 'since', 'until', 'list', 'extract', 'cat', 'container', 'grep']) {
    if (o[flag] !== undefined && o[flag] !== false) throw new UsageError(`--usage cannot be combined with --${flag}`);
  }
  const env = str(o.env);
  if (env !== undefined && env !== 'dev' && env !== 'prod') {
    throw new UsageError(`--env must be dev or prod (got '${env}')`);
  }
  const host = str(o.host);
  if (host !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(host)) {
    throw new UsageError(`--host must be a host name: letters, digits, '.', '_' or '-' (got '${host}')`);
  }
  const price = str(o.pricePerTb) ?? String(DEFAULT_PRICE_PER_TB);
  const pricePerTb = Number(price);
  if (price.trim() === '' || !Number.isFinite(pricePerTb) || pricePerTb < 0) {
    throw new UsageError(`--price-per-tb must be a number of USD, e.g. 6 (got '${price}')`);
  }
  return { envs: env ? [env] : ['dev', 'prod'], host, pricePerTb, json: Boolean(o.json), envFile: str(o.envFile) };
}

/** `--usage`: what the bucket holds and costs per env and host. */
export async function fetchUsage(o: UsageOptions): Promise<number> {
  const s3 = requireS3(loadConfig({ envFileFlag: o.envFile }));
  const { createStore } = await import('../store/client.js');
  const { measureUsage } = await import('../fetch/usage.js');
  const { renderUsage } = await import('../fetch/render.js');
  const store = await createStore(s3);
  try {
    const report = await measureUsage(store, o.envs, { host: o.host, pricePerTb: o.pricePerTb });
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
  const config = loadConfig({ envFileFlag: o.envFile });
  const s3 = requireS3(config);
  const { createStore } = await import('../store/client.js');
  const list = await import('../fetch/list.js');
  const render = await import('../fetch/render.js');
  const store = await createStore(s3);
  try {
    if (o.list && o.date === undefined && !o.range) {
      const dates = await list.listAvailability(store, o.env, o.host);
      if (o.json) writeJson({ env: o.env, host: o.host ?? null, dates });
      else writeText(render.renderDates(o.host ? `${o.env}/${o.host}` : o.env, dates));
      return 0;
    }
    const { archives, where } = await list.selectArchives(store, s3.bucket, o);
    if (o.list) {
      if (o.json) writeJson({ env: o.env, ...where, archives });
      else writeText(render.renderArchives(archives));
      return 0;
    }
    const { downloadArchives } = await import('../fetch/download.js');
    const { extractArchive } = await import('../fetch/extract.js');
    const root = path.resolve(o.out);
    const extracted = new Map<string, ExtractResult | { error: string }>();
    let failed = false;
    const tty = Boolean(process.stderr.isTTY);
    const started = Date.now();
    let drawn = 0;
    const outcomes = await downloadArchives(
      store,
      archives.map((a) => ({ archive: a, file: path.join(root, o.env, a.host, a.date, a.name) })),
      {
        concurrency: o.concurrency,
        onProgress: (p) => {
          if (!tty || (Date.now() - drawn < 100 && p.doneFiles < p.files)) return;
          drawn = Date.now();
          process.stderr.write(`\r\x1b[K${render.renderProgress(p, drawn - started)}`);
        },
        onReady: async (outcome: DownloadOutcome) => {
          if (!o.extract || outcome.status === 'failed') return;
          const dir = outcome.file.replace(/\.tar\.gz$/, '');
          try {
            extracted.set(outcome.archive.key, await extractArchive(outcome.file, dir, root));
          } catch (err) {
            extracted.set(outcome.archive.key, { error: (err as Error).message });
          }
        },
      },
    );
    if (tty) process.stderr.write('\r\x1b[K');
    const human = !o.json && !o.cat;
    for (const outcome of outcomes) {
      const label = `${outcome.archive.host} ${outcome.archive.name}`;
      if (outcome.status === 'failed') {
        failed = true;
        warn(`download of ${outcome.archive.key} failed: ${outcome.error}`);
        continue;
      }
      if (human) writeText(render.renderOutcome(outcome));
      const x = extracted.get(outcome.archive.key);
      if (x === undefined) continue;
      if ('error' in x) {
        failed = true;
        warn(`cannot extract ${label}: ${x.error}`);
        continue;
      }
      for (const r of x.refused) warn(`refused ${label}: entry '${r.name}': ${r.reason}`);
      for (const m of x.mismatches) warn(`verification failed ${label}: ${m.name}: ${m.reason}`);
      failed ||= x.refused.length > 0 || x.mismatches.length > 0;
      if (human) writeText(render.renderExtract(x));
    }
    if (o.json) {
      const rows = outcomes.map((x) => ({ ...x.archive, file: x.file, status: x.status, error: x.error ?? null }));
      writeJson({ env: o.env, ...where, out: root, archives: rows, extracted: Object.fromEntries(extracted) });
    }
    if (o.cat) {
      const { catArchives } = await import('../fetch/cat.js');
      const ready = outcomes.filter((x) => x.status !== 'failed');
      const sources = ready.map((x) => ({ host: x.archive.host, file: x.file, end: x.archive.end }));
      const filter = { container: o.container, grep: o.grep, range: o.range };
      const summary = await catArchives(sources, filter, stdoutSink());
      for (const u of summary.unreadable) warn(`cannot read archive ${u.file}: ${u.error.replace(`${u.file}: `, '')}`);
      failed ||= summary.unreadable.length > 0;
      if (summary.printed === 0) warn(render.renderNothingPrinted(summary, o));
    }
    return failed ? 1 : 0;
  } finally {
    store.close();
  }
}

/** The flags of `mizual-fetch-logs` (also read by the docs test: every flag must be documented). */
export function buildProgram(): Command {
  return configureProgram(new Command(TOOL))
    .description('Find, download, verify, extract and read the log archives shipped by mizual-ship-logs.')
    .version(VERSION)
    .option('--env <env>', 'dev or prod (required)')
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
    .option('--usage', 'what the bucket holds and costs, per env and host')
    .option('--price-per-tb <usd>', 'with --usage: USD per TB-month (default 6)')
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
          ['mizual-fetch-logs --env prod --date 2025-01-23 --extract', 'a day, unpacked'],
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
