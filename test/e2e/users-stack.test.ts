/**
 * Day one on the stack our users run (shared/USERS-STACK.md), stood up with Debian's docker-compose:
 * `backend` (gunicorn -w 2 -k uvicorn.workers.UvicornWorker, a FastAPI app), `celery` (a real worker),
 * `redis` without a container_name, a one-shot `migration` (restart "no", exits 0), `registry` and
 * `watchtower` stand-ins, and Postgres (Debian's postgresql-15 from the mounted /usr, as a numeric
 * non-root uid) on the Compose network. The `.env` says `db:5432` and `redis:6379`, names only the
 * Compose network resolves. No MIZUAL_CONTAINERS: what to watch is discovered.
 *
 * The engine is shared with other tests: assertions look at this project's containers and checks.
 */
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerAvailable } from '../harness/docker.js';
import { buildIfStale, runTool, scratchDir, type CliResult } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

const scratch = scratchDir('mizual-users-stack-');
const tag = `${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const project = `dayone${tag}`;
const other = `dayother${tag}`;
const dbPassword = `pw-${Math.random().toString(36).slice(2)}-secret`;
const PG_BIN = '/usr/lib/postgresql/15/bin';
let haveDocker = false;
let backendPort = 0;

/** The test image with its root directory 0755, so a non-root uid (Postgres refuses root) can run in it. */
const OPEN_IMAGE = 'mizual-test-busybox-open:1';

async function buildOpenImage(): Promise<void> {
  if ((await execa('docker', ['image', 'inspect', OPEN_IMAGE], { reject: false })).exitCode === 0) return;
  const root = path.join(scratch.dir, 'rootfs');
  for (const d of ['bin', 'tmp', 'etc', 'proc', 'sys', 'dev']) mkdirSync(path.join(root, d), { recursive: true });
  chmodSync(root, 0o755);
  chmodSync(path.join(root, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
  chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  symlinkSync('busybox', path.join(root, 'bin', 'sh'));
  // The paths go as arguments, never into the script's text.
  await execa('sh', ['-c', 'tar -C "$1" -c . | docker import -c "ENV PATH=/bin" - "$2"', 'sh', root, OPEN_IMAGE]);
}

const HOST_RUNTIME = `    image: mizual-test-busybox:1
    volumes: ["/usr:/usr:ro", "/lib:/lib:ro", "/lib64:/lib64:ro", "/etc:/etc:ro", "./app:/app:ro"]
    tmpfs: ["/tmp:mode=1777"]
    working_dir: /app
    environment: {PATH: /usr/local/bin:/usr/bin:/bin, HOME: /tmp, PYTHONUNBUFFERED: "1"}
    labels: {mizual-test: "1"}`;

/** The users' compose file, services as theirs (same names, restart policies, container names). */
function usersCompose(pgUid: string): string {
  return `version: "2.4"
services:
  registry:
    container_name: mizual-registry
    restart: unless-stopped
${HOST_RUNTIME}
    command: ["sleep", "3600"]
  watchtower:
    container_name: mizual-watchtower
    restart: unless-stopped
${HOST_RUNTIME}
    command: ["sleep", "3600"]
  redis:
    restart: unless-stopped
${HOST_RUNTIME}
    # The official redis image turns protected mode off, as its users' Compose networks expect.
    command: ["redis-server", "--port", "6379", "--protected-mode", "no", "--save", "", "--maxmemory", "200mb", "--maxmemory-policy", "allkeys-lru", "--dir", "/tmp"]
    healthcheck: {test: ["CMD", "redis-cli", "ping"], interval: 2s, timeout: 2s, retries: 5}
  db:
    restart: unless-stopped
    user: "${pgUid}"
${HOST_RUNTIME.replace('mizual-test-busybox:1', OPEN_IMAGE)}
    command: ["sh", "/app/db.sh"]
  migration:
    restart: "no"
    env_file: .env
${HOST_RUNTIME}
    command: ["sh", "-c", "echo migrating; echo done"]
  backend:
    container_name: mizual-backend
    restart: unless-stopped
    env_file: .env
${HOST_RUNTIME}
    command: ["python3", "-m", "gunicorn", "-w", "2", "-k", "uvicorn.workers.UvicornWorker", "app:app", "--bind", "0.0.0.0:8000"]
    ports: ["127.0.0.1:${backendPort}:8000"]
  celery:
    container_name: mizual-celery
    restart: unless-stopped
    env_file: .env
${HOST_RUNTIME}
    command: ["python3", "-m", "celery", "-A", "tasks", "worker", "--loglevel=info", "--concurrency=1", "--prefetch-multiplier=1"]
networks:
  default:
    name: ${project}_mizual-network
`;
}

/** A second project on the same host: other names, no container_name, none of the defaults. */
function otherCompose(): string {
  return `version: "2.4"
services:
  web:
    restart: always
${HOST_RUNTIME}
    command: ["sleep", "3600"]
  worker:
    restart: on-failure
${HOST_RUNTIME}
    command: ["sleep", "3600"]
`;
}

const DB_SH = `set -e
export PGDATA=/tmp/pgdata
${PG_BIN}/initdb -D "$PGDATA" -U app --pwfile=/app/db-password --auth-host=scram-sha-256 --auth-local=trust --locale=C -E UTF8 >/dev/null
echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
echo "CREATE DATABASE app" | ${PG_BIN}/postgres --single -D "$PGDATA" postgres >/dev/null
exec ${PG_BIN}/postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
`;

const APP_PY = `from fastapi import FastAPI
app = FastAPI()
@app.get("/health")
def health():
    return {"ok": True}
`;
const TASKS_PY = `import os
from celery import Celery
app = Celery('tasks', broker=os.environ['CELERY_BROKER_URL'])
@app.task
def add(x, y):
    return x + y
`;

async function compose(name: string, file: string, args: string[]): Promise<string> {
  const r = await execa('docker-compose', ['-p', name, '-f', file, ...args], {
    cwd: scratch.dir,
    reject: false,
    all: true,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0) throw new Error(`docker-compose ${args.join(' ')} exited ${r.exitCode}:\n${String(r.all)}`);
  return String(r.stdout);
}

/** The container of a service of a project, whichever way Compose (v1 or v2) named it. */
async function containerOf(proj: string, service: string): Promise<string> {
  const r = await execa('docker', [
    'ps', '-a', '--filter', `label=com.docker.compose.project=${proj}`,
    '--filter', `label=com.docker.compose.service=${service}`, '--format', '{{.Names}}',
  ]); // prettier-ignore
  const names = r.stdout.split('\n').filter(Boolean);
  assert.equal(names.length, 1, `one container for ${proj}/${service}: ${r.stdout}`);
  return names[0]!;
}

async function waitFor(what: string, test: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await test().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const logsOf = async (name: string): Promise<string> =>
  String((await execa('docker', ['logs', name], { reject: false, all: true })).all ?? '');

const outputs: CliResult[] = [];
async function tool(
  name: Parameters<typeof runTool>[0],
  args: string[],
  env: Record<string, string> = {},
  state = 'state',
): Promise<CliResult> {
  const result = await runTool(name, [...args, '--env-file', path.join(scratch.dir, '.env')], {
    env: {
      MIZUAL_STATE_DIR: path.join(scratch.dir, state),
      MIZUAL_ALERT_LOG: path.join(scratch.dir, `${state}-alerts.log`),
      MIZUAL_LOG_DIR: path.join(scratch.dir, `${state}-archives`),
      MIZUAL_HOSTNAME: 'users-stack',
      ...env,
    },
    cwd: scratch.dir,
    timeoutMs: 60_000,
  });
  outputs.push(result);
  return result;
}

interface Check {
  check: string;
  status: string;
  message: string;
}
const checksOf = (r: CliResult): Check[] => (JSON.parse(r.stdout) as { checks: Check[] }).checks;
const byName = (checks: Check[], name: string): Check | undefined => checks.find((c) => c.check === name);
const OURS = ['container:redis', 'container:db', 'container:migration', 'container:backend', 'container:celery'];
const OURS_ALL = [...OURS, 'container:registry', 'container:watchtower', 'db:down', 'queue:celery', 'health'];

describe('the users stack under docker-compose, with nothing but its .env', { concurrency: false }, () => {
  const usersFile = path.join(scratch.dir, 'docker-compose.yml');
  const otherFile = path.join(scratch.dir, 'other-compose.yml');

  before(async () => {
    haveDocker = await dockerAvailable();
    if (!haveDocker) return;
    await buildIfStale();
    backendPort = await freePort();
    await buildOpenImage();
    mkdirSync(path.join(scratch.dir, 'app'), { recursive: true });
    writeFileSync(path.join(scratch.dir, 'app', 'app.py'), APP_PY);
    writeFileSync(path.join(scratch.dir, 'app', 'tasks.py'), TASKS_PY);
    writeFileSync(path.join(scratch.dir, 'app', 'db.sh'), DB_SH);
    writeFileSync(path.join(scratch.dir, 'app', 'db-password'), `${dbPassword}\n`);
    chmodSync(path.join(scratch.dir, 'app'), 0o755);
    const pgUid = (await execa('id', ['-u', 'postgres'])).stdout.trim();
    const pgGid = (await execa('id', ['-g', 'postgres'])).stdout.trim();
    writeFileSync(usersFile, usersCompose(`${pgUid}:${pgGid}`));
    writeFileSync(otherFile, otherCompose());
    // The app's own .env, as their examples write it: names only the Compose network resolves.
    writeFileSync(
      path.join(scratch.dir, '.env'),
      [
        `DATABASE_URL=postgresql://app:${dbPassword}@db:5432/app`,
        'CELERY_BROKER_URL=redis://redis:6379/0',
        'MIZUAL_HEALTH_URL=http://backend:8000/health',
        'TZ=Asia/Kolkata',
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    if (!haveDocker) return;
    await compose(project, usersFile, ['down', '-v', '--timeout', '2']).catch(() => undefined);
    await compose(other, otherFile, ['down', '-v', '--timeout', '2']).catch(() => undefined);
    for (const r of outputs) assert.ok(!`${r.stdout}${r.stderr}`.includes(dbPassword), 'the password leaked');
    scratch.cleanup();
  });

  it('a second project with other container names raises nothing for the absent defaults', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    await compose(other, otherFile, ['up', '-d']);
    const web = await containerOf(other, 'web');
    await waitFor(
      'web running',
      async () => (await execa('docker', ['inspect', '-f', '{{.State.Running}}', web])).stdout === 'true',
    );
    const noDb = { MIZUAL_DATABASE_URL: 'off', MIZUAL_CELERY_BROKER_URL: 'off', MIZUAL_HEALTH_URL: '' };
    const run = await tool('mizual-alerts', ['--json', '--cpu-sample', '0'], noDb, 'other');
    const checks = checksOf(run);
    for (const d of ['backend', 'celery', 'registry', 'watchtower']) {
      // Unless another test on this shared engine runs one of these very names.
      const there = await execa('docker', ['inspect', `mizual-${d}`], { reject: false });
      if (there.exitCode !== 0) assert.equal(byName(checks, `container:${d}`), undefined, `no check for absent ${d}`);
    }
    assert.equal(byName(checks, 'container:web')?.status, 'ok');
    assert.equal(byName(checks, 'container:worker')?.status, 'ok');
    assert.equal(byName(checks, 'db:down'), undefined, 'MIZUAL_DATABASE_URL=off: no database check');
    assert.equal(byName(checks, 'queue:celery'), undefined, 'MIZUAL_CELERY_BROKER_URL=off: no queue check');
    const metrics = await tool('mizual-metrics', ['--json', '--sample', '1'], noDb, 'other');
    const report = JSON.parse(metrics.stdout) as {
      watch: { source: string; defaultsNotFound: string[] };
      db?: unknown;
    };
    assert.equal(report.watch.source, 'discovered');
    assert.equal(report.db, undefined);
    const dashboard = await tool('mizual-metrics', ['--sample', '1'], noDb, 'other');
    if (report.watch.defaultsNotFound.length > 0) {
      assert.match(dashboard.stdout, /not on this host: mizual-.*MIZUAL_CONTAINERS/);
    }
    await compose(other, otherFile, ['down', '-v', '--timeout', '2']);
  });

  it('comes up with docker-compose: backend, celery, redis, db, the one-shot migration', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    await compose(project, usersFile, ['up', '-d']);
    await waitFor('the backend serving', async () =>
      /Application startup complete/.test(await logsOf('mizual-backend')),
    );
    await waitFor('the worker ready', async () => /ready\./.test(await logsOf('mizual-celery')));
    const db = await containerOf(project, 'db');
    await waitFor('postgres ready', async () => /ready to accept connections/.test(await logsOf(db)));
    const migration = await containerOf(project, 'migration');
    await waitFor('the migration done', async () => {
      const s = (await execa('docker', ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', migration])).stdout;
      return s === 'exited 0';
    });
    const redis = await containerOf(project, 'redis');
    await waitFor(
      'redis healthy',
      async () => (await execa('docker', ['inspect', '-f', '{{.State.Health.Status}}', redis])).stdout === 'healthy',
    );
  });

  it('the first mizual-alerts run has no WARNING or CRITICAL of the stack', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    const run = await tool('mizual-alerts', ['--json', '--cpu-sample', '0']);
    const checks = checksOf(run);
    for (const name of OURS_ALL)
      assert.equal(byName(checks, name)?.status, 'ok', `${name}: ${JSON.stringify(byName(checks, name))}`);
    assert.match(byName(checks, 'container:migration')!.message, /one-shot\) exited \(exit code 0\)/);
    // Anything not OK belongs to someone else's containers on this shared engine, never to this stack.
    const notOk = checks.filter((c) => c.status !== 'ok' && c.status !== 'unknown');
    for (const c of notOk)
      assert.ok(!/container:|db:|queue:|health/.test(c.check) || !OURS_ALL.includes(c.check), c.check);
    if (notOk.length === 0) assert.equal(run.exitCode, 0, run.stdout);
  });

  it('database and queue figures are there, reached through their containers', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    const run = await tool('mizual-metrics', ['--json', '--sample', '1']);
    assert.equal(run.exitCode, 0, run.stderr);
    const report = JSON.parse(run.stdout) as {
      db: { available: boolean; reason: string | null; via: string | null };
      app: { queues: { queue: string; length: number | null }[]; probes: { name: string; up: boolean }[] };
      reachedThrough: { host: string; container: string }[];
      containers: { name: string }[];
    };
    assert.equal(report.db.available, true, report.db.reason ?? '');
    const dbName = await containerOf(project, 'db');
    const redisName = await containerOf(project, 'redis');
    assert.equal(report.db.via, dbName);
    assert.deepEqual(report.app.queues, [{ queue: 'celery', length: 0 }]);
    assert.equal(report.app.probes.find((p) => p.name === 'health')?.up, true);
    const reached = Object.fromEntries(report.reachedThrough.map((r) => [r.host, r.container]));
    assert.deepEqual(
      { db: reached.db, redis: reached.redis, backend: reached.backend },
      { db: dbName, redis: redisName, backend: 'mizual-backend' },
    );
    const dashboard = await tool('mizual-metrics', ['--sample', '1']);
    assert.match(dashboard.stdout, new RegExp(`db:5432 reached through container ${dbName}`));
    const check = await tool('mizual-ship-logs', ['--check', '--json']);
    const steps = (JSON.parse(check.stdout) as { steps: { step: string; ok: boolean; detail: string }[] }).steps;
    const dbStep = steps.find((s) => s.step === 'url DATABASE_URL');
    assert.equal(dbStep?.ok, true);
    assert.match(dbStep!.detail, new RegExp(`reached through container ${dbName}`));
    assert.match(steps.find((s) => s.step === 'url CELERY_BROKER_URL')!.detail, new RegExp(redisName));
  });

  it('ships each discovered container under its Compose service name', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    const run = await tool('mizual-ship-logs', ['--no-upload', '--json', '--window', '10m']);
    assert.equal(run.exitCode, 0, run.stderr);
    const archive = readdirSync(path.join(scratch.dir, 'state-archives')).find((f) => f.endsWith('.tar.gz'))!;
    const list = await execa('tar', ['-tzf', path.join(scratch.dir, 'state-archives', archive)]);
    for (const short of ['redis', 'db', 'migration', 'backend', 'celery', 'registry', 'watchtower']) {
      assert.match(list.stdout, new RegExp(`^${short}-\\d{8}_\\d{6}\\.log$`, 'm'), `${short} in ${list.stdout}`);
    }
  });

  it('stopping redis is CRITICAL for container:redis; the one-shot stays quiet', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    await compose(project, usersFile, ['stop', '--timeout', '2', 'redis']);
    const run = await tool('mizual-alerts', ['--json', '--cpu-sample', '0']);
    const checks = checksOf(run);
    assert.equal(byName(checks, 'container:redis')?.status, 'critical');
    assert.equal(byName(checks, 'container:migration')?.status, 'ok');
    assert.equal(run.exitCode, 2);
  });

  it('a removed container stays CRITICAL until its service is back, under the same check', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    await compose(project, usersFile, ['rm', '-f', 'redis']);
    const gone = checksOf(await tool('mizual-alerts', ['--json', '--cpu-sample', '0']));
    assert.equal(byName(gone, 'container:redis')?.status, 'critical');
    assert.match(byName(gone, 'container:redis')!.message, /gone/);
    await compose(project, usersFile, ['up', '-d', 'redis']);
    const redis = await containerOf(project, 'redis');
    await waitFor(
      'redis running',
      async () => (await execa('docker', ['inspect', '-f', '{{.State.Running}}', redis])).stdout === 'true',
    );
    const back = checksOf(await tool('mizual-alerts', ['--json', '--cpu-sample', '0']));
    assert.equal(byName(back, 'container:redis')?.status, 'ok');
    const log = await execa('cat', [path.join(scratch.dir, 'state-alerts.log')]);
    assert.match(log.stdout, /RESOLVED container:redis/);
  });

  it('MIZUAL_DATABASE_URL=off or empty turns the database part off', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    for (const value of ['off', '']) {
      const run = await tool('mizual-metrics', ['--json', '--no-docker', '--sample', '1'], {
        MIZUAL_DATABASE_URL: value,
      });
      assert.equal((JSON.parse(run.stdout) as { db?: unknown }).db, undefined, `MIZUAL_DATABASE_URL='${value}'`);
    }
  });
});
