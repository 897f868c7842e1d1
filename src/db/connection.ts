/**
 * One connection per run, made for poolers: `pg` is loaded here only (and only when a URL is set), the
 * startup packet carries the user, the database and `application_name` and nothing else (PgBouncer and
 * Neon's pooler refuse other parameters), and everything we run is one `BEGIN READ ONLY` transaction
 * whose `SET LOCAL` timeouts end with it, so nothing of ours stays on a server connection a pooler
 * hands to the app. Statements go through the unnamed prepared statement only. Errors are told in our
 * words, naming host and database only.
 */
import type { Client, ClientConfig } from 'pg';
import { tlsForHost, type DbHost, type DbTarget } from './url.js';

export const APPLICATION_NAME = 'mizual-monitoring';
export const CONNECT_TIMEOUT_MS = 5_000;
export const STATEMENT_TIMEOUT_MS = 5_000;
/** How long one statement may wait for a lock (a migration's) before its figure is given up. */
export const LOCK_TIMEOUT_MS = 1_000;
/** The comment every statement of ours starts with, so the statistics can leave them out. */
export const OWN_MARK = '/* mizual-monitoring */';

/** Run one read-only statement; rows as objects. */
export type Query = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;

export interface DbSession {
  query: Query;
  /** The server that answered (one of the target's hosts). */
  server: DbHost;
  /**
   * Run `work` inside one read-only transaction with our timeouts set locally; `work` gets our backend's
   * pid and a `step` that isolates one part (a savepoint) so a refused figure does not end the others.
   */
  transaction<T>(work: (pid: number, step: Step) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Run one part of the scrape; a server error in it is rolled back to before it and thrown. */
export type Step = <T>(part: () => Promise<T>) => Promise<T>;

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

function clientConfig(target: DbTarget, server: DbHost, tls: DbTarget['tls'] | false): ClientConfig {
  return {
    host: server.host,
    port: server.port,
    user: target.user,
    password: target.password,
    database: target.database,
    ssl: tls ?? false,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // The client's own deadline per statement; the server's is SET LOCAL inside the transaction.
    query_timeout: STATEMENT_TIMEOUT_MS + 1_000,
  };
}

/** Connect to one server, honouring prefer/allow's fallback as libpq does. */
async function connectTo(target: DbTarget, server: DbHost): Promise<Client> {
  const pg = (await import('pg')).default;
  const tls = tlsForHost(target, server.servername ?? server.host);
  const attempt = async (withTls: DbTarget['tls'] | false): Promise<Client> => {
    const client = new pg.Client(clientConfig(target, server, withTls));
    // pg would add PGOPTIONS and PGREPLICATION from our environment to the startup packet.
    const params = (client as unknown as { connectionParameters: Record<string, unknown> }).connectionParameters;
    params.options = undefined;
    params.replication = undefined;
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
  if (server.host.startsWith('/') || target.sslMode === 'disable') return attempt(false);
  if (target.sslMode === 'prefer') {
    return attempt(tls).catch((err: unknown) => {
      if (/does not support SSL/i.test(String((err as Error)?.message))) return attempt(false);
      throw err;
    });
  }
  if (target.sslMode === 'allow') {
    return attempt(false).catch((err: unknown) => {
      if ((err as { code?: string })?.code === '28000') return attempt(tls);
      throw err;
    });
  }
  return attempt(tls);
}

/** Open the one connection of this run: the first of the target's hosts that answers. */
export async function openSession(target: DbTarget): Promise<DbSession> {
  let client: Client | undefined;
  let server: DbHost | undefined;
  let firstError: unknown;
  for (const candidate of target.hosts) {
    try {
      client = await connectTo(target, candidate);
      server = candidate;
      break;
    } catch (err) {
      firstError ??= err;
    }
  }
  if (!client || !server) throw toDbError(firstError, target);
  const connected = client;
  const query: Query = async <T>(sql: string, params?: unknown[]) => {
    try {
      // No `name`: pg uses the unnamed statement, which transaction pooling allows.
      const result = await connected.query({ text: `${OWN_MARK} ${sql}`, values: params });
      return result.rows as T[];
    } catch (err) {
      throw toDbError(err, target);
    }
  };
  const step: Step = async (part) => {
    await query('SAVEPOINT mizual_step');
    try {
      return await part();
    } catch (err) {
      if (err instanceof DbError && err.sqlState) await query('ROLLBACK TO SAVEPOINT mizual_step');
      throw err;
    }
  };
  return {
    query,
    server,
    async transaction(work) {
      // Each statement its own string, so pg_stat_statements keeps our mark on it and leaves it out of
      // the figures. set_config(…, true) is SET LOCAL: it ends with the transaction.
      await query('BEGIN READ ONLY');
      const [started] = await query<{ pid: number }>(
        `SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true),
                set_config('idle_in_transaction_session_timeout', $3, true), pg_backend_pid() AS pid`,
        [String(STATEMENT_TIMEOUT_MS), String(LOCK_TIMEOUT_MS), '60000'],
      );
      const pid = Number(started?.pid);
      const result = await work(pid, step);
      await query('COMMIT');
      return result;
    },
    close: async () => {
      await connected.end().catch(() => undefined);
    },
  };
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
