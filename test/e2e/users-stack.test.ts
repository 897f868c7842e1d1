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
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerAvailable } from '../harness/docker.js';
import { buildIfStale, runTool, scratchDir, type CliResult } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import {
  compose,
  containerOf,
  startUsersStack,
  stopUsersStack,
  waitFor,
  writeUsersStack,
  type UsersStack,
} from '../harness/users-stack.js';

const scratch = scratchDir('mizual-users-stack-');
const tag = `${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const project = `dayone${tag}`;
const other = `dayother${tag}`;
let haveDocker = false;
const dbPassword = `pw-${Math.random().toString(36).slice(2)}-secret`;
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
  let stack: UsersStack;

  before(async () => {
    haveDocker = await dockerAvailable();
    if (!haveDocker) return;
    await buildIfStale();
    stack = await writeUsersStack(scratch.dir, project, dbPassword, await freePort());
  });

  after(async () => {
    if (!haveDocker) return;
    await stopUsersStack(stack).catch(() => undefined);
    await stopUsersStack(stack, stack.otherFile, other).catch(() => undefined);
    for (const r of outputs) assert.ok(!`${r.stdout}${r.stderr}`.includes(dbPassword), 'the password leaked');
    scratch.cleanup();
  });

  it('a second project with other container names raises nothing for the absent defaults', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    await compose(stack.dir, other, stack.otherFile, ['up', '-d']);
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
    await compose(stack.dir, other, stack.otherFile, ['down', '-v', '--timeout', '2']);
  });

  it('comes up with docker-compose: backend, celery, redis, db, the one-shot migration', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    await startUsersStack(stack);
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
    await compose(stack.dir, project, stack.usersFile, ['stop', '--timeout', '2', 'redis']);
    const run = await tool('mizual-alerts', ['--json', '--cpu-sample', '0']);
    const checks = checksOf(run);
    assert.equal(byName(checks, 'container:redis')?.status, 'critical');
    assert.equal(byName(checks, 'container:migration')?.status, 'ok');
    assert.equal(run.exitCode, 2);
  });

  it('a removed container stays CRITICAL until its service is back, under the same check', async (t) => {
    if (!haveDocker) return t.skip('Docker not available');
    await compose(stack.dir, project, stack.usersFile, ['rm', '-f', 'redis']);
    const gone = checksOf(await tool('mizual-alerts', ['--json', '--cpu-sample', '0']));
    assert.equal(byName(gone, 'container:redis')?.status, 'critical');
    assert.match(byName(gone, 'container:redis')!.message, /gone/);
    await compose(stack.dir, project, stack.usersFile, ['up', '-d', 'redis']);
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
