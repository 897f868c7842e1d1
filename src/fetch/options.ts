/**
 * The flags of mizual-fetch-logs, checked before anything touches the network: every mistake is a
 * usage error (exit 2) with the expected form.
 */
import { isValidDate, type LogEnv } from '../archive/contract.js';
import { UsageError } from '../core/errors.js';
import { parsePositiveInt } from '../core/units.js';
import { parseRange, type TimeRange } from './range.js';
import { DEFAULT_PRICE_PER_TB } from '../core/cost.js';

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
  if (o.patterns) throw new UsageError('--patterns needs --usage');
  if (o.pricePerTb !== undefined) throw new UsageError('--price-per-tb needs --usage');
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
  /** `--patterns`: each container's top line shapes too. */
  patterns: boolean;
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
  return {
    envs: env ? [env] : ['dev', 'prod'],
    host,
    pricePerTb,
    patterns: Boolean(o.patterns),
    json: Boolean(o.json),
    envFile: str(o.envFile),
  };
}
