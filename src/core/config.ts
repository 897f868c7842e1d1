import { existsSync, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import path from 'node:path';
import { parseDotenv } from './dotenv.js';
import { UsageError } from './errors.js';
import { parsePositiveInt } from './units.js';

/** Every variable we read. Anything else in a `.env` file is never kept, exported or printed. */
export const KNOWN_VARIABLES = [
  'S3_BUCKET_NAME',
  'S3_ENDPOINT_URL',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'S3_REGION',
  'STORAGE_PATH_PREFIX',
  'MIZUAL_HOSTNAME',
  'MIZUAL_CONTAINERS',
  'MIZUAL_LOG_DIR',
  'MIZUAL_STATE_DIR',
  'MIZUAL_HOLD_DIR',
  'MIZUAL_ALERT_LOG',
  'MIZUAL_RETENTION_DAYS',
  'MIZUAL_ALERT_WEBHOOK_URL',
  'MIZUAL_ALERT_WEBHOOK_FORMAT',
  'MIZUAL_HEALTH_URL',
  'MIZUAL_ALERT_CPU',
  'MIZUAL_ALERT_MEMORY',
  'MIZUAL_ALERT_DISK',
  'DOCKER_HOST',
  'MIZUAL_PROBES',
  'MIZUAL_APP_RULES',
  'CELERY_BROKER_URL',
  'MIZUAL_CELERY_BROKER_URL',
  'MIZUAL_CELERY_QUEUES',
  'DATABASE_URL',
  'MIZUAL_DATABASE_URL',
  'MIZUAL_HISTORY_DAYS',
  'MIZUAL_APP_METRICS',
  'MIZUAL_PROBE_RETRIES',
  'MIZUAL_COST_BUDGET',
] as const;
export type KnownVariable = (typeof KNOWN_VARIABLES)[number];

export const DEFAULT_ENV_FILE = '/opt/mizual/.env';
export const DEFAULT_CONTAINERS = 'backend,celery,registry,watchtower';

export interface ConfigSources {
  /** `--env-file PATH` from the command line. */
  envFileFlag?: string;
  /** The process environment (tests pass their own). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where `/opt/mizual/.env` lives (tests point it elsewhere). */
  defaultEnvFile?: string;
  /** The effective user id (default: this process's); root reads `/opt/mizual/.env` before `./.env`. */
  euid?: number;
}

/**
 * Find the `.env` file: `--env-file`, else `$MIZUAL_ENV_FILE`, else `./.env`, else `/opt/mizual/.env`;
 * as root, `/opt/mizual/.env` before `./.env` (a root cron job or shell must not pick up a stray file
 * from its working directory).
 */
export function findEnvFile(sources: ConfigSources): string | undefined {
  const env = sources.env ?? process.env;
  const explicit = sources.envFileFlag ?? (env.MIZUAL_ENV_FILE || undefined);
  if (explicit !== undefined) {
    const origin = sources.envFileFlag !== undefined ? '--env-file' : 'MIZUAL_ENV_FILE';
    if (!existsSync(explicit)) throw new UsageError(`${origin}: no such file: ${explicit}`);
    return explicit;
  }
  const local = path.join(sources.cwd ?? process.cwd(), '.env');
  const installed = sources.defaultEnvFile ?? DEFAULT_ENV_FILE;
  const root = (sources.euid ?? process.geteuid?.()) === 0;
  return (root ? [installed, local] : [local, installed]).find((file) => existsSync(file));
}

/**
 * The text of a `.env` file as editors save it. A byte-order mark would otherwise become part of the
 * first key (`\uFEFFS3_BUCKET_NAME`) and lose that variable silently: Notepad and `vim` with `bomb`
 * write UTF-8 with one, and Notepad's "Unicode" is UTF-16 LE. CRLF, `export`, quotes and comments are
 * dotenv.ts's.
 */
export function decodeEnvText(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2));
    return swapped.swap16().toString('utf16le');
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Read only our own variables from a `.env` file (`${NAME}` resolved against `env`); never touches `process.env`. */
export function readEnvFile(file: string, env: NodeJS.ProcessEnv = {}): Partial<Record<KnownVariable, string>> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`cannot read env file ${file}: ${code}`);
  }
  // The app's own loaders' syntax (dotenv.ts); Node's util.parseEnv cuts `ab#cd` to `ab`.
  const parsed = parseDotenv(decodeEnvText(bytes), env);
  const ours: Partial<Record<KnownVariable, string>> = {};
  for (const name of KNOWN_VARIABLES) {
    const value = parsed.get(name);
    if (value !== undefined) ours[name] = value;
  }
  return ours;
}

export interface ContainerSpec {
  /** Short name used in file names, check names and prefixes (`backend`). */
  short: string;
  /** Docker container name (`mizual-backend`). */
  name: string;
  /**
   * Why it is watched when MIZUAL_CONTAINERS is unset (src/docker/watched.ts): a default name found on
   * this host, a container meant to keep running, a Compose one-shot, or one seen before and gone.
   * Absent for the containers MIZUAL_CONTAINERS names.
   */
  origin?: 'default' | 'discovered' | 'one-shot' | 'remembered';
  /** Its Compose project and service, when it has them. */
  project?: string;
  service?: string;
}

export interface S3Settings {
  bucket: string;
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface Config {
  envFile: string | undefined;
  hostname: string;
  /** `prod` or `dev`, from STORAGE_PATH_PREFIX. */
  env: 'prod' | 'dev';
  /** MIZUAL_CONTAINERS, else the defaults until the engine is asked (src/docker/watched.ts). */
  containers: ContainerSpec[];
  /** True when MIZUAL_CONTAINERS is set: exactly those containers, nothing discovered. */
  containersExplicit: boolean;
  logDir: string;
  stateDir: string;
  /** Where the shipper hard-links log files it has not shipped yet; default `<Docker data root>/mizual-hold`. */
  holdDir: string | undefined;
  alertLog: string;
  retentionDays: number;
  /** MIZUAL_ALERT_WEBHOOK_URL as written: whitespace-separated targets, parsed by mizual-alerts. */
  webhookUrl: string | undefined;
  webhookFormat: string | undefined;
  healthUrl: string | undefined;
  dockerHost: string | undefined;
  thresholds: { cpu: string | undefined; memory: string | undefined; disk: string | undefined };
  /** The raw values, for settings a single tool reads. */
  lookup: (name: KnownVariable) => string | undefined;
  /** Whether a variable is set at all, even to an empty value (`MIZUAL_DATABASE_URL=` turns the database off). */
  isSet: (name: KnownVariable) => boolean;
}

/** Load configuration with the contract's precedence: flag > process environment > `.env` file. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const envFile = findEnvFile(sources);
  const fromFile = envFile ? readEnvFile(envFile, env) : {};
  const lookup = (name: KnownVariable): string | undefined => {
    const value = env[name] ?? fromFile[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const hostname = lookup('MIZUAL_HOSTNAME') ?? osHostname();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(hostname)) {
    throw new UsageError(`MIZUAL_HOSTNAME must be letters, digits, '.', '_' or '-' (got '${hostname}')`);
  }
  return {
    envFile,
    hostname,
    env: lookup('STORAGE_PATH_PREFIX') === 'production' ? 'prod' : 'dev',
    containers: parseContainers(lookup('MIZUAL_CONTAINERS') ?? DEFAULT_CONTAINERS),
    containersExplicit: lookup('MIZUAL_CONTAINERS') !== undefined,
    logDir: lookup('MIZUAL_LOG_DIR') ?? '/var/log/mizual',
    stateDir: lookup('MIZUAL_STATE_DIR') ?? '/var/lib/mizual',
    holdDir: lookup('MIZUAL_HOLD_DIR'),
    alertLog: lookup('MIZUAL_ALERT_LOG') ?? '/var/log/mizual-alerts.log',
    retentionDays: parsePositiveInt(lookup('MIZUAL_RETENTION_DAYS') ?? '90', 'MIZUAL_RETENTION_DAYS'),
    webhookUrl: lookup('MIZUAL_ALERT_WEBHOOK_URL'),
    webhookFormat: lookup('MIZUAL_ALERT_WEBHOOK_FORMAT'),
    healthUrl: optionalUrl(lookup, 'MIZUAL_HEALTH_URL'),
    dockerHost: lookup('DOCKER_HOST'),
    thresholds: {
      cpu: lookup('MIZUAL_ALERT_CPU'),
      memory: lookup('MIZUAL_ALERT_MEMORY'),
      disk: lookup('MIZUAL_ALERT_DISK'),
    },
    lookup,
    isSet: (name) => env[name] !== undefined || fromFile[name] !== undefined,
  };
}

/**
 * A URL the app's `.env` holds that ours overrides (`MIZUAL_DATABASE_URL` over `DATABASE_URL`): ours
 * when set; `off` or an empty value turns that part off (null), never falling back to the app's.
 */
export function overridableUrl(
  config: Pick<Config, 'lookup'> & Partial<Pick<Config, 'isSet'>>,
  ours: KnownVariable,
  app: KnownVariable,
): { url: string; variable: KnownVariable } | null {
  const own = config.lookup(ours);
  if (own !== undefined) return own.toLowerCase() === 'off' ? null : { url: own, variable: ours };
  if (config.isSet?.(ours)) return null;
  const theirs = config.lookup(app);
  return theirs === undefined ? null : { url: theirs, variable: app };
}

/** The S3 settings ship and fetch need; a missing or malformed one is a usage error naming it. */
export function requireS3(config: Config): S3Settings {
  const need = (name: KnownVariable): string => {
    const value = config.lookup(name);
    if (value === undefined) {
      const where = config.envFile ? `the environment or ${config.envFile}` : 'the environment or a .env file';
      throw new UsageError(`${name} is not set (set it in ${where})`);
    }
    return value;
  };
  const bucket = need('S3_BUCKET_NAME');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UsageError(`S3_BUCKET_NAME is not a valid bucket name (got '${bucket}')`);
  }
  const endpoint = need('S3_ENDPOINT_URL');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`S3_ENDPOINT_URL is not a URL (expected e.g. https://s3.us-east-005.backblazeb2.com)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`S3_ENDPOINT_URL must start with https:// (got '${url.protocol}')`);
  }
  const accessKeyId = need('S3_ACCESS_KEY_ID');
  const secretAccessKey = need('S3_SECRET_ACCESS_KEY');
  return {
    bucket,
    endpoint: url.origin,
    region: resolveRegion(url.origin, config.lookup('S3_REGION')),
    accessKeyId,
    secretAccessKey,
  };
}

/** The region a B2 endpoint names (`https://s3.us-east-005.backblazeb2.com` or its bare host → `us-east-005`), else undefined. */
export function regionFromEndpoint(endpoint: string): string | undefined {
  let host: string;
  try {
    host = new URL(endpoint.includes('://') ? endpoint : `https://${endpoint}`).hostname;
  } catch {
    return undefined;
  }
  return /^s3\.([a-z0-9-]+)\.backblazeb2\.com$/i.exec(host)?.[1]?.toLowerCase();
}

/** The signing region: an explicit S3_REGION, else the one a B2 endpoint names, else us-east-1. */
export function resolveRegion(endpoint: string, region?: string): string {
  return region || regionFromEndpoint(endpoint) || 'us-east-1';
}

/** Parse `MIZUAL_CONTAINERS`: `short=container` or bare `short` (→ `mizual-<short>`). */
export function parseContainers(text: string): ContainerSpec[] {
  const specs: ContainerSpec[] = [];
  const name = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
  for (const item of text.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    const [short, container, extra] = item.split('=').map((s) => s.trim());
    if (extra !== undefined || !short || !name.test(short) || (container !== undefined && !name.test(container))) {
      throw new UsageError(`MIZUAL_CONTAINERS must be a comma list of short=container or short (bad item '${item}')`);
    }
    // Case-blind: the entries named after them must differ on a case-insensitive disk too.
    if (specs.some((s) => s.short.toLowerCase() === short.toLowerCase())) {
      throw new UsageError(`MIZUAL_CONTAINERS names '${short}' twice`);
    }
    specs.push({ short, name: container ?? `mizual-${short}` });
  }
  if (specs.length === 0) throw new UsageError('MIZUAL_CONTAINERS is empty');
  return specs;
}

function optionalUrl(lookup: (name: KnownVariable) => string | undefined, name: KnownVariable): string | undefined {
  const value = lookup(name);
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${name} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`${name} must be an http:// or https:// URL`);
  }
  return value;
}
