// Our mizual_db_* series agree with prometheus-postgres-exporter's on the same database (Debian's
// exporter, DATA_SOURCE_NAME with the same pg_monitor role, on a free loopback port).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import type pg from 'pg';
import { scratchDir } from '../helpers/cli.js';
import { adminSession, readHarness, runWithDb, sqlalchemyUrl, until } from './db-helpers.js';

const h = readHarness();
const scratch = scratchDir('mizual-db-exporter-');
after(() => scratch.cleanup());

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Prometheus text into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function sumOf(series: Map<string, number>, name: string, label: RegExp): number {
  let sum = 0;
  for (const [key, value] of series) if (key.startsWith(`${name}{`) && label.test(key)) sum += value;
  return sum;
}

test('max connections, connections by state, size and deadlocks agree with postgres_exporter', async () => {
  const port = await freePort();
  // The exporter (0.11) rejects the monitoring role's password as a malformed DSN (and logs it), so it
  // reads the same server as the superuser over the socket; the figures compared are server-wide.
  const dsn = `host=${h.socket} port=${h.port} user=${h.admin} dbname=appdb sslmode=disable`;
  const exporter = spawn('prometheus-postgres-exporter', [`--web.listen-address=127.0.0.1:${port}`], {
    env: { PATH: process.env.PATH, DATA_SOURCE_NAME: dsn },
    stdio: 'ignore',
  });
  const sessions: pg.Client[] = [];
  try {
    // A few idle sessions and one idle in a transaction, so the states are not all zero.
    for (let i = 0; i < 3; i++) sessions.push(await adminSession(h));
    await sessions[0]!.query('BEGIN');
    await sessions[0]!.query('SELECT 1');
    let exported = new Map<string, number>();
    await until('the exporter to answer', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
      if (!res?.ok) return false;
      exported = parse(await res.text());
      return exported.has('pg_up') && exported.get('pg_up') === 1;
    });
    const ours = parse(
      (
        await runWithDb('mizual-metrics', ['--prometheus'], {
          DATABASE_URL: sqlalchemyUrl(h),
          MIZUAL_STATE_DIR: path.join(scratch.dir, 's'),
        })
      ).stdout,
    );
    assert.equal(ours.get('mizual_db_up'), 1);
    assert.equal(ours.get('mizual_db_max_connections'), sumOf(exported, 'pg_settings_max_connections', /server=/));
    assert.equal(
      ours.get('mizual_db_size_bytes{datname="appdb"}'),
      sumOf(exported, 'pg_database_size_bytes', /datname="appdb"/),
    );
    assert.equal(
      ours.get('mizual_db_deadlocks_total'),
      sumOf(exported, 'pg_stat_database_deadlocks', /datname="appdb"/),
    );
    const state = (s: string) => sumOf(exported, 'pg_stat_activity_count', new RegExp(`state="${s}"`));
    assert.equal(
      ours.get('mizual_db_connections{state="idle in transaction"}'),
      state('idle in transaction') + state('idle in transaction \\(aborted\\)'),
    );
    // The exporter counts its own session (active while it scrapes, idle while we do); we leave ours out.
    assert.equal(
      (ours.get('mizual_db_connections{state="idle"}') ?? 0) + (ours.get('mizual_db_connections{state="active"}') ?? 0),
      state('idle') + state('active'),
    );
    assert.ok((ours.get('mizual_db_connections{state="idle"}') ?? 0) >= 2, 'the workload sessions are idle');
  } finally {
    exporter.kill();
    for (const s of sessions) await s.end().catch(() => undefined);
  }
});
