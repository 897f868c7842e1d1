/**
 * Our users' stack (shared/USERS-STACK.md) as a Compose project for Debian's docker-compose: `backend`
 * (gunicorn -w 2 -k uvicorn.workers.UvicornWorker, a FastAPI app), `celery` (a real worker), `redis`
 * without a container_name, a one-shot `migration` (restart "no", exits 0), `registry` and `watchtower`
 * stand-ins, and Postgres (Debian's postgresql-15 from the mounted /usr, as a numeric non-root uid) on
 * the Compose network. The app's `.env` names `db:5432` and `redis:6379`, which only that network resolves.
 * Used by test/e2e/users-stack.test.ts and bench/users-stack.mjs.
 */
import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** The test image with its root directory 0755, so a non-root uid (Postgres refuses root) can run in it. */
const OPEN_IMAGE = 'mizual-test-busybox-open:1';

async function buildOpenImage(dir: string): Promise<void> {
  if ((await execa('docker', ['image', 'inspect', OPEN_IMAGE], { reject: false })).exitCode === 0) return;
  const root = path.join(dir, 'rootfs');
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
function usersCompose(project: string, pgUid: string, backendPort: number): string {
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

/** Run docker-compose on a project of the stack's directory; throws with its output when it fails. */
export async function compose(dir: string, name: string, file: string, args: string[]): Promise<string> {
  const r = await execa('docker-compose', ['-p', name, '-f', file, ...args], {
    cwd: dir,
    reject: false,
    all: true,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0) throw new Error(`docker-compose ${args.join(' ')} exited ${r.exitCode}:\n${String(r.all)}`);
  return String(r.stdout);
}

/** The container of a service of a project, whichever way Compose (v1 or v2) named it. */
export async function containerOf(proj: string, service: string): Promise<string> {
  const r = await execa('docker', [
    'ps', '-a', '--filter', `label=com.docker.compose.project=${proj}`,
    '--filter', `label=com.docker.compose.service=${service}`, '--format', '{{.Names}}',
  ]); // prettier-ignore
  const names = r.stdout.split('\n').filter(Boolean);
  if (names.length !== 1) throw new Error(`not one container for ${proj}/${service}: ${r.stdout}`);
  return names[0]!;
}

export async function waitFor(what: string, test: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await test().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export const logsOf = async (name: string): Promise<string> =>
  String((await execa('docker', ['logs', name], { reject: false, all: true })).all ?? '');

export interface UsersStack {
  dir: string;
  project: string;
  /** The users' compose file, and a second project with other names and none of the defaults. */
  usersFile: string;
  otherFile: string;
  /** The app's `.env`, as their examples write it. */
  envFile: string;
}

/** Write the stack's files into `dir` (compose files, the app, the `.env`), building the image Postgres needs. */
export async function writeUsersStack(
  dir: string,
  project: string,
  dbPassword: string,
  backendPort: number,
): Promise<UsersStack> {
  await buildOpenImage(dir);
  mkdirSync(path.join(dir, 'app'), { recursive: true });
  writeFileSync(path.join(dir, 'app', 'app.py'), APP_PY);
  writeFileSync(path.join(dir, 'app', 'tasks.py'), TASKS_PY);
  writeFileSync(path.join(dir, 'app', 'db.sh'), DB_SH);
  writeFileSync(path.join(dir, 'app', 'db-password'), `${dbPassword}\n`);
  chmodSync(path.join(dir, 'app'), 0o755);
  const pgUid = (await execa('id', ['-u', 'postgres'])).stdout.trim();
  const pgGid = (await execa('id', ['-g', 'postgres'])).stdout.trim();
  const usersFile = path.join(dir, 'docker-compose.yml');
  const otherFile = path.join(dir, 'other-compose.yml');
  writeFileSync(usersFile, usersCompose(project, `${pgUid}:${pgGid}`, backendPort));
  writeFileSync(otherFile, otherCompose());
  const envFile = path.join(dir, '.env');
  writeFileSync(
    envFile,
    [
      `DATABASE_URL=postgresql://app:${dbPassword}@db:5432/app`,
      'CELERY_BROKER_URL=redis://redis:6379/0',
      'MIZUAL_HEALTH_URL=http://backend:8000/health',
      'TZ=Asia/Kolkata',
      '',
    ].join('\n'),
  );
  return { dir, project, usersFile, otherFile, envFile };
}

/** `docker-compose up -d` the users' stack and wait until each service is ready (the one-shot done). */
export async function startUsersStack(stack: UsersStack): Promise<void> {
  await compose(stack.dir, stack.project, stack.usersFile, ['up', '-d']);
  await waitFor('the backend serving', async () => /Application startup complete/.test(await logsOf('mizual-backend')));
  await waitFor('the worker ready', async () => /ready\./.test(await logsOf('mizual-celery')));
  const db = await containerOf(stack.project, 'db');
  await waitFor('postgres ready', async () => /ready to accept connections/.test(await logsOf(db)));
  const migration = await containerOf(stack.project, 'migration');
  await waitFor('the migration done', async () => {
    const s = (await execa('docker', ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', migration])).stdout;
    return s === 'exited 0';
  });
  const redis = await containerOf(stack.project, 'redis');
  await waitFor(
    'redis healthy',
    async () => (await execa('docker', ['inspect', '-f', '{{.State.Health.Status}}', redis])).stdout === 'healthy',
  );
}

/** Take the stack down with its volumes and network. */
export async function stopUsersStack(
  stack: UsersStack,
  file = stack.usersFile,
  project = stack.project,
): Promise<void> {
  await compose(stack.dir, project, file, ['down', '-v', '--timeout', '2']);
}
