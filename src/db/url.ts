/**
 * The app's Postgres URL, read the way libpq reads it: `postgresql://`, `postgres://` and SQLAlchemy's
 * `postgresql+<driver>://`, percent-encoded user and password, `sslmode` with libpq's meaning, and
 * `options`, several hosts and Unix sockets. We build pg's settings ourselves instead of handing it the string, so pg never prints its
 * sslmode warning and `require` means what libpq means (encrypt, do not verify).
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { overridableUrl } from '../core/config.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
/** Debian's libpq looks for the server's socket here when the URL names no host. */
const DEFAULT_SOCKET_DIR = '/var/run/postgresql';

/** One server to try: a host name or address, or a socket directory (starting with `/`). */
export interface DbHost {
  host: string;
  port: number;
  /** The name TLS verifies when `host` is the address a Compose name was dialled at. */
  servername?: string;
}

export interface DbTarget {
  /** The first of `hosts` (host name, or the socket directory for a local connection). */
  host: string;
  port: number;
  /** Every server to try, in order (`h1:p1,h2:p2`): the first that answers is used. */
  hosts: DbHost[];
  database: string;
  user: string;
  password: string | undefined;
  sslMode: SslMode;
  /** TLS settings for the modes that use it (undefined for disable), for the first host. */
  tls: ConnectionOptions | undefined;
  /** libpq's `options`: read, never sent (poolers refuse it in the startup packet). */
  options: string | undefined;
  /** `host:port/database` (or `socket/database`, or `h1:p1,h2:p2/database`): what errors may name. */
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

/** `host`, `host:port`, `[v6]:port` or a percent-encoded socket directory, as one entry of the host list. */
function splitHostPort(entry: string, variable: string): { host: string; port: string } {
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(entry);
  if (v6) return { host: v6[1] ?? '', port: v6[2] ?? '' };
  const colon = entry.lastIndexOf(':');
  if (colon >= 0 && entry.indexOf(':') !== colon) {
    throw new DbUrlError(`${variable} has an IPv6 address without [brackets]`);
  }
  return colon < 0 ? { host: entry, port: '' } : { host: entry.slice(0, colon), port: entry.slice(colon + 1) };
}

function toPort(text: string, variable: string): number {
  if (text === '') return 5432;
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DbUrlError(`${variable} has an invalid port`);
  return port;
}

/**
 * The servers to try, the way libpq reads them: the authority's comma list (`h1:p1,h2:p2`), else the
 * `host`/`port` parameters (comma lists too, one port for all allowed); an empty host, a host that is
 * a directory (`%2Fvar%2Frun%2Fpostgresql`) or `host=/dir` is a Unix socket.
 */
function readHosts(hostspec: string, params: URLSearchParams, variable: string): DbHost[] {
  const hostParam = params.get('host');
  const portParam = params.get('port');
  let entries: { host: string; port: string }[];
  if (hostParam !== null && hostParam !== '') {
    entries = hostParam.split(',').map((host) => ({ host, port: '' }));
  } else {
    entries = hostspec.split(',').map((entry) => {
      const { host, port } = splitHostPort(entry, variable);
      return { host: decode(host, 'host'), port };
    });
  }
  if (portParam !== null && portParam !== '') {
    const ports = portParam.split(',');
    if (ports.length !== 1 && ports.length !== entries.length) {
      throw new DbUrlError(`${variable} gives ${ports.length} ports for ${entries.length} hosts`);
    }
    entries = entries.map((e, i) => ({ ...e, port: ports[ports.length === 1 ? 0 : i] ?? '' }));
  }
  return entries.map((e) => ({ host: e.host === '' ? DEFAULT_SOCKET_DIR : e.host, port: toPort(e.port, variable) }));
}

/** Read a Postgres URL into connection settings; throws DbUrlError naming what is wrong, never the URL. */
export function parseDbUrl(text: string, variable = 'DATABASE_URL'): DbTarget {
  const trimmed = text.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (!scheme) throw new DbUrlError(`${variable} is not a URL (expected postgresql://user:password@host/database)`);
  if (scheme !== 'postgres' && scheme !== 'postgresql' && !scheme.startsWith('postgresql+')) {
    throw new DbUrlError(`${variable} is not a Postgres URL (scheme ${scheme}:)`);
  }
  const rest = trimmed.slice(scheme.length + 3);
  // A fragment means nothing to libpq; a `#` is almost always a password character left unencoded.
  if (rest.includes('#') || /\s/.test(rest)) {
    throw new DbUrlError(`${variable} is malformed (a character in the password may need percent-encoding)`);
  }
  const queryAt = rest.indexOf('?');
  const beforeQuery = queryAt < 0 ? rest : rest.slice(0, queryAt);
  const params = new URLSearchParams(queryAt < 0 ? '' : rest.slice(queryAt + 1));
  const slash = beforeQuery.indexOf('/');
  const authority = slash < 0 ? beforeQuery : beforeQuery.slice(0, slash);
  const pathname = slash < 0 ? '' : beforeQuery.slice(slash + 1);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at);
  const hostspec = at < 0 ? authority : authority.slice(at + 1);
  if (userinfo.includes('@') || /[/?]/.test(hostspec)) {
    throw new DbUrlError(`${variable} is malformed (a character in the password may need percent-encoding)`);
  }
  const colon = userinfo.indexOf(':');
  const urlUser = colon < 0 ? userinfo : userinfo.slice(0, colon);
  const urlPassword = colon < 0 ? undefined : userinfo.slice(colon + 1);
  const hosts = readHosts(hostspec, params, variable);
  const first = hosts[0] as DbHost;
  const database = params.get('dbname') ?? (decode(pathname, 'database name') || '');
  const user = params.get('user') ?? (urlUser ? decode(urlUser, 'user name') : '');
  const passwordParam = params.get('password');
  const password = passwordParam ?? (urlPassword ? decode(urlPassword, 'password') : undefined);
  if (!user) throw new DbUrlError(`${variable} names no user`);
  const dbName = database || user;
  // libpq 16: sslrootcert=system without sslmode means verify-full, and refuses a weaker mode with it.
  const systemRoots = params.get('sslrootcert') === 'system';
  // asyncpg's spelling (`ssl=require`) when sslmode is absent; libpq's default is prefer.
  const given = params.get('sslmode') ?? sslFromAsyncpg(params.get('ssl'));
  const modeText = (given ?? (systemRoots ? 'verify-full' : 'prefer')).toLowerCase();
  if (!SSL_MODES.includes(modeText as SslMode)) {
    throw new DbUrlError(`${variable} has an unknown sslmode "${modeText}" (one of ${SSL_MODES.join(', ')})`);
  }
  if (systemRoots && modeText !== 'verify-full') {
    throw new DbUrlError(`${variable}: sslrootcert=system needs sslmode=verify-full (sslmode=${modeText} is weaker)`);
  }
  const local = first.host.startsWith('/');
  const sslMode: SslMode = local && hosts.length === 1 ? 'disable' : (modeText as SslMode);
  const show = (h: DbHost) =>
    h.host.startsWith('/') ? h.host : `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;
  return {
    host: first.host,
    port: first.port,
    hosts,
    database: dbName,
    user,
    password,
    sslMode,
    tls: tlsFor(sslMode, first.host, params),
    options: params.get('options') ?? undefined,
    label: `${hosts.map(show).join(',')}/${dbName}`,
  };
}

/** The TLS settings for one of the target's hosts (a socket never uses TLS). */
export function tlsForHost(target: DbTarget, host: string): ConnectionOptions | undefined {
  if (host.startsWith('/') || !target.tls) return undefined;
  const servername = /^[\d.]+$|:/.test(host) ? undefined : host;
  return { ...target.tls, servername };
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
