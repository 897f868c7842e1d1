// The database tests' shared parts: the harness's Postgres (test/harness/postgres-up.sh), URLs the way
// apps write them, sessions that make a workload, and the check that no password leaked anywhere.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { runTool, type CliResult } from '../helpers/cli.js';

export interface PgHarness {
  port: number;
  socket: string;
  data: string;
  bin: string;
  admin: string;
  monUser: string;
  monPassword: string;
  nomonUser: string;
  nomonPassword: string;
}

/** The harness's settings; a missing harness fails the test (never skips). */
export function readHarness(): PgHarness {
  const file = path.join(process.env.MIZUAL_TEST_STATE ?? '/tmp/mizual-test', 'postgres.env');
  const text = readFileSync(file, 'utf8');
  const get = (key: string): string => {
    const m = new RegExp(`^${key}=(.*)$`, 'm').exec(text);
    assert.ok(m, `${key} missing from ${file}: run test/harness/postgres-up.sh`);
    return m[1]!.replace(/^'(.*)'$/, '$1');
  };
  return {
    port: Number(get('PG_TEST_PORT')),
    socket: get('PG_TEST_SOCKET'),
    data: get('PG_TEST_DATA'),
    bin: get('PG_TEST_BIN'),
    admin: get('PG_TEST_ADMIN_USER'),
    monUser: get('PG_TEST_MON_USER'),
    monPassword: get('PG_TEST_MON_PASSWORD'),
    nomonUser: get('PG_TEST_NOMON_USER'),
    nomonPassword: get('PG_TEST_NOMON_PASSWORD'),
  };
}

/** A URL as SQLAlchemy apps write it, the password percent-encoded. */
export function sqlalchemyUrl(h: PgHarness, o: { user?: string; password?: string; db?: string; query?: string } = {}) {
  const user = o.user ?? h.monUser;
  const password = o.password ?? h.monPassword;
  return (
    `postgresql+psycopg2://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${h.port}/` +
    `${o.db ?? 'appdb'}?${o.query ?? 'sslmode=require'}`
  );
}

/** A superuser session over the harness's socket (the workload's side, not the tool's). */
export async function adminSession(h: PgHarness, db = 'appdb'): Promise<pg.Client> {
  const client = new pg.Client({
    host: h.socket,
    port: h.port,
    user: h.admin,
    database: db,
    application_name: 'workload',
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Our pid of a session. */
export async function pidOf(client: pg.Client): Promise<number> {
  const r = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return Number(r.rows[0]!.pid);
}

/** Wait until the condition holds (polling the server), up to a bound. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Run a tool with the database URL and a state directory, nothing from the machine's .env. */
export function runWithDb(
  tool: 'mizual-metrics' | 'mizual-alerts',
  args: string[],
  env: Record<string, string | undefined>,
): Promise<CliResult> {
  const base =
    tool === 'mizual-metrics'
      ? ['--no-docker', '--sample', '100']
      : ['--no-docker', '--cpu-sample', '0', '--cpu', '100', '--memory', '100', '--disk', '100'];
  return runTool(tool, [...base, ...args], { env, timeoutMs: 60_000 });
}

/** Every file's text under dir (state files, alert log). */
export function filesUnder(dir: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name);
    if (statSync(file).isFile()) out.push({ file, text: readFileSync(file, 'utf8') });
  }
  return out;
}

/** Assert a secret appears in none of the texts, neither as it is nor percent-encoded. */
export function assertNoSecret(secret: string, texts: { where: string; text: string }[]): void {
  for (const { where, text } of texts) {
    for (const form of [secret, encodeURIComponent(secret)]) {
      assert.ok(!text.includes(form), `the password appears in ${where}`);
    }
  }
}
