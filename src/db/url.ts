/**
 * The app's Postgres URL, read the way libpq reads it: `postgresql://`, `postgres://` and SQLAlchemy's
 * `postgresql+<driver>://`, percent-encoded user and password, `sslmode` with libpq's meaning, and
 * `options`. We build pg's settings ourselves instead of handing it the string, so pg never prints its
 * sslmode warning and `require` means what libpq means (encrypt, do not verify).
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { overridableUrl } from '../core/config.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SOCKET_HOST = 'local-socket.invalid';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

export interface DbTarget {
  /** Host name, or the socket directory for a local connection. */
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  sslMode: SslMode;
  /** TLS settings for the modes that use it (undefined for disable). */
  tls: ConnectionOptions | undefined;
  /** libpq's `options` (e.g. `-csearch_path=app`). */
  options: string | undefined;
  /** `host:port/database` (or `socket/database`): what errors may name. */
  label: string;
}

/** A URL that cannot be read; its message never contains the URL itself. */
export class DbUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DbUrlError';
  }
}

const decode = (text: string, what: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new DbUrlError(`the ${what} is not valid percent-encoding`);
  }
};

/** Read a Postgres URL into connection settings; throws DbUrlError naming what is wrong, never the URL. */
export function parseDbUrl(text: string, variable = 'DATABASE_URL'): DbTarget {
  const trimmed = text.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (!scheme) throw new DbUrlError(`${variable} is not a URL (expected postgresql://user:password@host/database)`);
  if (scheme !== 'postgres' && scheme !== 'postgresql' && !scheme.startsWith('postgresql+')) {
    throw new DbUrlError(`${variable} is not a Postgres URL (scheme ${scheme}:)`);
  }
  let url: URL;
  try {
    // WHATWG URL treats only "special" schemes strictly; http gives us its authority parsing for any host.
    // An empty host (`postgresql:///db`, `postgresql://u@/db?host=/run/postgresql`) means the local socket.
    const rest = trimmed.slice(scheme.length + 3).replace(/^([^/?#@]*@)?(?=[/?#]|$)/, `$1${SOCKET_HOST}`);
    url = new URL(`http://${rest}`);
  } catch {
    throw new DbUrlError(`${variable} is malformed (a character in the password may need percent-encoding)`);
  }
  const params = url.searchParams;
  const hostParam = params.get('host') ?? undefined;
  if ((hostParam ?? url.hostname).includes(',')) {
    throw new DbUrlError(`${variable} names several hosts; give the one to monitor`);
  }
  const host =
    hostParam ?? (url.hostname ? decode(url.hostname.replace(/^\[|\]$/g, ''), 'host') : '/var/run/postgresql');
  const portText = params.get('port') ?? url.port;
  const port = portText ? Number(portText) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DbUrlError(`${variable} has an invalid port`);
  const database = params.get('dbname') ?? (decode(url.pathname.replace(/^\//, ''), 'database name') || '');
  const user = params.get('user') ?? (url.username ? decode(url.username, 'user name') : '');
  const passwordParam = params.get('password');
  const password = passwordParam ?? (url.password ? decode(url.password, 'password') : undefined);
  if (!user) throw new DbUrlError(`${variable} names no user`);
  const dbName = database || user;
  // asyncpg's spelling (`ssl=require`) when sslmode is absent; libpq's default is prefer.
  const modeText = (params.get('sslmode') ?? sslFromAsyncpg(params.get('ssl')) ?? 'prefer').toLowerCase();
  if (!SSL_MODES.includes(modeText as SslMode)) {
    throw new DbUrlError(`${variable} has an unknown sslmode "${modeText}" (one of ${SSL_MODES.join(', ')})`);
  }
  const local = host.startsWith('/');
  const sslMode: SslMode = local ? 'disable' : (modeText as SslMode);
  return {
    host,
    port,
    database: dbName,
    user,
    password,
    sslMode,
    tls: tlsFor(sslMode, host, params),
    options: params.get('options') ?? undefined,
    label: local ? `${host}/${dbName}` : `${host.includes(':') ? `[${host}]` : host}:${port}/${dbName}`,
  };
}

function sslFromAsyncpg(value: string | null): string | undefined {
  if (value === null) return undefined;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return 'require';
  if (v === 'false' || v === '0') return 'disable';
  return v;
}

function readPem(params: URLSearchParams, name: string): Buffer | undefined {
  const file = params.get(name);
  if (!file || file === 'system') return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new DbUrlError(`cannot read ${name} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** libpq's sslmode as Node TLS options: require encrypts only, verify-ca checks the chain, verify-full the host too. */
function tlsFor(mode: SslMode, host: string, params: URLSearchParams): ConnectionOptions | undefined {
  if (mode === 'disable') return undefined;
  const client = { cert: readPem(params, 'sslcert'), key: readPem(params, 'sslkey') };
  const rootCert = params.get('sslrootcert');
  const ca = readPem(params, 'sslrootcert');
  const servername = /^[\d.]+$|:/.test(host) ? undefined : host;
  // libpq: require with a root certificate given behaves as verify-ca.
  const effective = mode === 'require' && rootCert && rootCert !== 'system' ? 'verify-ca' : mode;
  if (effective === 'verify-full') return { ...client, ca, servername, rejectUnauthorized: true };
  if (effective === 'verify-ca') {
    return { ...client, ca, servername, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  }
  return { ...client, servername, rejectUnauthorized: false };
}

/**
 * The URL to monitor: MIZUAL_DATABASE_URL, else the app's DATABASE_URL; null when neither is set, or
 * when MIZUAL_DATABASE_URL is `off` or empty (`isSet` tells an empty value from none).
 */
export function configuredDbUrl(
  lookup: (name: 'MIZUAL_DATABASE_URL' | 'DATABASE_URL') => string | undefined,
  isSet?: (name: 'MIZUAL_DATABASE_URL') => boolean,
): { url: string; variable: string } | null {
  return overridableUrl(
    {
      lookup: (name) => (name === 'MIZUAL_DATABASE_URL' || name === 'DATABASE_URL' ? lookup(name) : undefined),
      isSet: (name) => name === 'MIZUAL_DATABASE_URL' && Boolean(isSet?.(name)),
    },
    'MIZUAL_DATABASE_URL',
    'DATABASE_URL',
  );
}
