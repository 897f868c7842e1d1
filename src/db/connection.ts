/**
 * One connection per run, read-only: `pg` is loaded here only (and only when a URL is set), the session
 * is named `mizual-monitoring`, connecting and each statement give up after 5 s on both sides (server's
 * statement_timeout, client's query deadline), and errors are told in our words, naming host and
 * database only.
 */
import type { Client, ClientConfig } from 'pg';
import type { DbTarget } from './url.js';

export const APPLICATION_NAME = 'mizual-monitoring';
export const CONNECT_TIMEOUT_MS = 5_000;
export const STATEMENT_TIMEOUT_MS = 5_000;
/** The comment every statement of ours starts with, so the statistics can leave them out. */
export const OWN_MARK = '/* mizual-monitoring */';

/** Run one read-only statement; rows as objects. */
export type Query = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;

export interface DbSession {
  query: Query;
  /** Our own backend's pid (left out of every figure). */
  pid: number;
  close(): Promise<void>;
}

/** A failure to connect or query, already told without secrets. */
export class DbError extends Error {
  /** SQLSTATE when the server refused (42501 permission denied, 28P01 bad password). */
  readonly sqlState: string | undefined;
  /** The message without the leading `database host:port/db: `. */
  readonly reason: string;
  constructor(message: string, sqlState?: string, reason = message) {
    super(message);
    this.name = 'DbError';
    this.sqlState = sqlState;
    this.reason = reason;
  }
}

function clientConfig(target: DbTarget, tls: DbTarget['tls'] | false): ClientConfig {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    ssl: tls ?? false,
    options: target.options,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: STATEMENT_TIMEOUT_MS + 1_000,
    idle_in_transaction_session_timeout: 60_000,
  };
}

/** Open the one connection of this run, honouring prefer/allow's fallback as libpq does. */
export async function openSession(target: DbTarget): Promise<DbSession> {
  const pg = (await import('pg')).default;
  const attempt = async (tls: DbTarget['tls'] | false): Promise<Client> => {
    const client = new pg.Client(clientConfig(target, tls));
    // An 'error' event after connect (server gone) must not crash the process; the query fails instead.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  };
  let client: Client;
  try {
    if (target.sslMode === 'prefer') {
      client = await attempt(target.tls).catch((err: unknown) => {
        if (/does not support SSL/i.test(String((err as Error)?.message))) return attempt(false);
        throw err;
      });
    } else if (target.sslMode === 'allow') {
      client = await attempt(false).catch((err: unknown) => {
        if ((err as { code?: string })?.code === '28000') return attempt(target.tls);
        throw err;
      });
    } else {
      client = await attempt(target.sslMode === 'disable' ? false : target.tls);
    }
  } catch (err) {
    throw toDbError(err, target);
  }
  const query: Query = async <T>(sql: string, params?: unknown[]) => {
    try {
      const result = await client.query(`${OWN_MARK} ${sql}`, params);
      return result.rows as T[];
    } catch (err) {
      throw toDbError(err, target);
    }
  };
  try {
    // Read-only for the whole session: nothing we send can change the app's data.
    await query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
    const [row] = await query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return {
      query,
      pid: Number(row?.pid),
      close: async () => {
        await client.end().catch(() => undefined);
      },
    };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
}

const TLS_CODES: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate issuer unknown',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate issuer unknown',
  CERT_HAS_EXPIRED: 'certificate expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate does not name this host',
};

/** Our one-line account of a driver or network error: host and database, never user or password. */
export function toDbError(err: unknown, target: DbTarget): DbError {
  if (err instanceof DbError) return err;
  const e = (err ?? {}) as { code?: string; message?: string };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const raw = typeof e.message === 'string' ? e.message : String(err);
  const where = `database ${target.label}`;
  let why: string;
  if (code && TLS_CODES[code]) {
    why = `the server's certificate is not trusted with sslmode=${target.sslMode} (${TLS_CODES[code]}); sslmode=require encrypts without verifying, or give sslrootcert=FILE`;
  } else if (code === 'ECONNREFUSED') why = 'connection refused (is the server running?)';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') why = 'host not found';
  else if (code === 'ENOENT') why = 'no server socket there (is the server running?)';
  else if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') why = `unreachable (${code})`;
  else if (/timeout expired|connection timeout/i.test(raw)) why = `no answer within ${CONNECT_TIMEOUT_MS / 1000}s`;
  else if (/Query read timeout/i.test(raw))
    why = `a statement got no answer within ${(STATEMENT_TIMEOUT_MS + 1000) / 1000}s`;
  else if (code === '28P01' || code === '28000') why = 'authentication failed (check the user and password in the URL)';
  else if (code === '3D000') why = 'database does not exist';
  else if (code === '57014')
    why = `a statement was cancelled after ${STATEMENT_TIMEOUT_MS / 1000}s (statement_timeout)`;
  else if (/does not support SSL/i.test(raw)) why = `the server does not offer TLS (sslmode=${target.sslMode})`;
  else if (/terminated/i.test(raw)) why = 'the server closed the connection';
  else why = scrub(raw, target);
  return new DbError(`${where}: ${why}`, code && /^[0-9A-Z]{5}$/.test(code) ? code : undefined, why);
}

/** Remove what must never be shown (password, user, any URL) from a message we pass on as it is. */
export function scrub(text: string, target: Pick<DbTarget, 'password' | 'user'>): string {
  let out = text.replace(/\s*\n\s*/g, ' ').replace(/postgres(ql)?(\+\w+)?:\/\/\S*/gi, '<url>');
  for (const secret of [target.password, target.password && encodeURIComponent(target.password)]) {
    if (secret) out = out.split(secret).join('***');
  }
  if (target.user) out = out.split(`"${target.user}"`).join('"<user>"');
  return out.trim();
}
