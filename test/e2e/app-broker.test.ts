/**
 * Celery queue lengths from a real Redis broker behind a Compose service name: a redis-server in a
 * container named and labelled the way Compose does (`<project>-redis-1`), a real Celery worker
 * (python3-celery) stopped so that tasks sent from the host stay queued, some of them with
 * priorities (kombu's `celery\x06\x16<n>` lists). The `.env` names the broker `redis`, which the
 * host cannot resolve, with a password that must appear nowhere.
 */
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerAvailable, dockerCli, TEST_IMAGE, TEST_LABEL } from '../harness/docker.js';
import { buildIfStale, runTool, scratchDir, type CliResult } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

const PYTHON = '/usr/bin/python3';
const scratch = scratchDir('mizual-app-broker-');
const project = `mizualtest${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const redisName = `${project}-redis-1`;
const workerName = `${project}-celery-1`;
// A second Compose project with its own `redis` service, whose name sorts first: never to be asked
// for the watched project's queues. Its own network namespace, the same port and password, 3 messages.
const otherProject = `mizualother${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const otherRedis = `${otherProject}-redis-1`;
const otherQueued = 3;
const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
let port = 0;
let haveDocker = false;
const sent = { plain: 7, priority9: 4, priority5: 3 };
const total = sent.plain + sent.priority9 + sent.priority5;

const TASKS = `import os
from celery import Celery
app = Celery('tasks', broker=os.environ['BROKER'])

@app.task
def add(x, y):
    return x + y
`;
const SEND = `import sys
from tasks import add
n, pri = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    if pri == 'none':
        add.delay(i, i)
    else:
        add.apply_async((i, i), priority=int(pri))
`;

/** `docker run` of the host's Python/Redis in the busybox image, the way REAL-SERVICES.md describes. */
function hostRuntimeArgs(name: string, service: string, inProject = project, network = 'host'): string[] {
  return [
    'run', '-d', '--name', name, '--network', network, '--label', TEST_LABEL,
    '--label', `com.docker.compose.project=${inProject}`, '--label', `com.docker.compose.service=${service}`,
    '--label', 'com.docker.compose.container-number=1',
    '-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro', '-v', '/etc:/etc:ro', '--tmpfs', '/tmp',
    '-e', 'PATH=/usr/local/bin:/usr/bin:/bin', '-e', 'HOME=/tmp', '-e', 'PYTHONUNBUFFERED=1',
  ]; // prettier-ignore
}

async function waitForLog(name: string, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let logs = '';
  while (Date.now() < deadline) {
    const r = await execa('docker', ['logs', name], { reject: false, all: true });
    logs = String(r.all ?? '');
    if (pattern.test(logs)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} never logged ${pattern}:\n${logs.slice(-2000)}`);
}

const env = (): Record<string, string> => ({
  MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
  MIZUAL_ALERT_LOG: path.join(scratch.dir, 'alerts.log'),
  MIZUAL_CONTAINERS: `redis=${redisName}`,
});
const outputs: CliResult[] = [];
async function tool(name: 'mizual-metrics' | 'mizual-alerts', args: string[]): Promise<CliResult> {
  const result = await runTool(name, [...args, '--env-file', path.join(scratch.dir, '.env')], {
    env: env(),
    cwd: scratch.dir,
  });
  outputs.push(result);
  return result;
}

before(async () => {
  haveDocker = await dockerAvailable();
  if (!haveDocker) return;
  await buildIfStale();
  port = await freePort();
  const app = path.join(scratch.dir, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'tasks.py'), TASKS);
  writeFileSync(path.join(app, 'send.py'), SEND);
  await dockerCli([
    ...hostRuntimeArgs(redisName, 'redis'),
    TEST_IMAGE,
    'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--requirepass', password,
  ]); // prettier-ignore
  await dockerCli([
    ...hostRuntimeArgs(otherRedis, 'redis', otherProject, 'none'),
    TEST_IMAGE,
    'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--requirepass', password,
  ]); // prettier-ignore
  await waitForLog(redisName, /Ready to accept connections/);
  await waitForLog(otherRedis, /Ready to accept connections/);
  await dockerCli([
    'exec', '-e', `REDISCLI_AUTH=${password}`, otherRedis,
    'redis-cli', '-p', String(port), '--no-auth-warning', 'LPUSH', 'celery', 'a', 'b', 'c',
  ]); // prettier-ignore
  const broker = `redis://:${password}@127.0.0.1:${port}/0`;
  // A real worker connects (declaring its queue), then is stopped: what is sent afterwards waits.
  await dockerCli([
    ...hostRuntimeArgs(workerName, 'celery'),
    '-v', `${app}:/app:ro`, '-w', '/app', '-e', `BROKER=${broker}`,
    TEST_IMAGE,
    'python3', '-m', 'celery', '-A', 'tasks', 'worker', '--loglevel=info', '--concurrency=1',
  ]); // prettier-ignore
  await waitForLog(workerName, /celery@\S+ ready\./);
  await dockerCli(['stop', '-t', '10', workerName]);
  const send = (n: number, priority: string) =>
    execa(PYTHON, ['send.py', String(n), priority], { cwd: app, env: { BROKER: broker }, extendEnv: false });
  await send(sent.plain, 'none');
  await send(sent.priority9, '9');
  await send(sent.priority5, '5');
  writeFileSync(
    path.join(scratch.dir, '.env'),
    `# the app's own settings\nSECRET_KEY=unrelated\nCELERY_BROKER_URL=redis://:${password}@redis:${port}/0\n`,
  );
});

after(async () => {
  if (haveDocker) await execa('docker', ['rm', '-f', '-v', redisName, workerName, otherRedis], { reject: false });
  scratch.cleanup();
});

describe('Celery queues in a Redis broker found behind its Compose service name', () => {
  it('the priority lists exist in the broker (what celery-exporter would miss)', async (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const keys = await execa('redis-cli', ['-p', String(port), '--no-auth-warning', 'KEYS', 'celery*'], {
      env: { REDISCLI_AUTH: password },
    });
    const names = keys.stdout.split('\n').sort();
    assert.ok(names.includes('celery'), keys.stdout);
    assert.ok(
      names.some((k) => k.startsWith('celery\x06\x16')),
      `no priority list among ${JSON.stringify(names)}`,
    );
  });

  it('mizual-metrics shows the queue length: every task sent, every priority summed', async (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const json = await tool('mizual-metrics', ['--json']);
    assert.equal(json.exitCode, 0, json.stderr);
    const report = JSON.parse(json.stdout) as { app: { queues: unknown[]; problems: string[] } };
    assert.deepEqual(report.app.queues, [{ queue: 'celery', length: total }]);
    assert.deepEqual(report.app.problems, []);

    const human = await tool('mizual-metrics', []);
    assert.equal(human.exitCode, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^queue celery\\s+${total} waiting$`, 'm'));

    const prom = await tool('mizual-metrics', ['--prometheus']);
    assert.equal(prom.exitCode, 0, prom.stderr);
    assert.match(prom.stdout, new RegExp(`^mizual_celery_queue_length\\{queue="celery"\\} ${total}$`, 'm'));
    const check = await execa('promtool', ['check', 'metrics'], { input: `${prom.stdout}\n`, reject: false });
    assert.equal(check.exitCode, 0, `${check.stdout}${check.stderr}`);
  });

  it('mizual-alerts warns at --queue-backlog, repeats nothing, and resolves when the backlog is allowed', async (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const raised = await tool('mizual-alerts', ['--json', '--cpu-sample', '0', '--queue-backlog', String(total)]);
    const checks = (JSON.parse(raised.stdout) as { checks: { check: string; status: string; value: unknown }[] })
      .checks;
    const queue = checks.find((c) => c.check === 'queue:celery');
    assert.deepEqual([queue?.status, queue?.value], ['warning', total]);
    assert.ok(raised.exitCode >= 1, raised.stderr);
    const log = () => readFileSync(path.join(scratch.dir, 'alerts.log'), 'utf8');
    assert.match(log(), new RegExp(`WARNING queue:celery: queue celery: ${total} waiting \\(threshold ${total}\\)`));

    const again = await tool('mizual-alerts', ['--json', '--cpu-sample', '0', '--queue-backlog', String(total)]);
    assert.ok(again.exitCode >= 1);
    assert.equal(log().match(/queue:celery/g)?.length, 1, log());

    const cleared = await tool('mizual-alerts', ['--json', '--cpu-sample', '0', '--queue-backlog', String(total + 1)]);
    assert.ok([0, 1, 2, 3].includes(cleared.exitCode));
    assert.match(
      log(),
      new RegExp(`RESOLVED queue:celery: queue celery: ${total} waiting \\(threshold ${total + 1}\\)`),
    );
  });

  it('a wrong password: one line naming the container, no password, the host figures still shown', async (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const wrong = `${password}-wrong`;
    const envFile = path.join(scratch.dir, 'wrong.env');
    writeFileSync(envFile, `CELERY_BROKER_URL=redis://:${wrong}@redis:${port}/0\n`);
    const result = await runTool('mizual-metrics', ['--env-file', envFile], { env: env(), cwd: scratch.dir });
    outputs.push(result);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^memory /m);
    assert.match(result.stdout, /^queue celery\s+not read$/m);
    const broker = result.stdout.split('\n').filter((l) => l.startsWith('broker '));
    assert.deepEqual(broker.length, 1, result.stdout);
    assert.match(
      broker[0] ?? '',
      // Reached at its address (the Compose name resolver), or asked with redis-cli inside it: named either way.
      new RegExp(
        `^broker redis://redis:${port}/0 \\((reached through|asked in) container ${redisName}\\): .*WRONGPASS`,
      ),
    );
    assert.ok(!`${result.stdout}${result.stderr}`.includes(wrong.slice(0, 12)));
  });

  it("two projects each with a redis service: the watched containers' project is asked, never the other", async (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    assert.ok(otherRedis < redisName, 'the other project must sort first (what a silent pick took)');
    const json = await tool('mizual-metrics', ['--json']);
    assert.equal(json.exitCode, 0, json.stderr);
    const report = JSON.parse(json.stdout) as { app: { queues: unknown[]; problems: string[] } };
    assert.deepEqual(report.app.queues, [{ queue: 'celery', length: total }]);
    assert.notEqual(total, otherQueued);
  });

  it('both projects watched: two candidates are one clear line naming them, the queue unknown, nothing picked', async (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const both = { ...env(), MIZUAL_CONTAINERS: `redis=${redisName},other=${otherRedis}` };
    const run = (name: 'mizual-metrics' | 'mizual-alerts', args: string[]) =>
      runTool(name, [...args, '--env-file', path.join(scratch.dir, '.env')], { env: both, cwd: scratch.dir });
    const [json, human, alerts] = await Promise.all([
      run('mizual-metrics', ['--json']),
      run('mizual-metrics', []),
      run('mizual-alerts', ['--json', '--dry-run', '--cpu-sample', '0']),
    ]);
    outputs.push(json, human, alerts);
    // One resolver for every URL's Compose name (src/docker/compose-hosts.ts) says it, naming both.
    const line =
      `broker redis://redis:${port}/0: redis is the Compose service of 2 running containers ` +
      `(${otherRedis} (project ${otherProject}), ${redisName} (project ${project})): ` +
      'give an address or a container name in the URL';
    const report = JSON.parse(json.stdout) as { app: { queues: unknown[]; problems: string[] } };
    assert.deepEqual(report.app.queues, [{ queue: 'celery', length: null }]);
    assert.deepEqual(report.app.problems, [line]);
    assert.equal(human.stdout.split('\n').filter((l) => l === line).length, 1, human.stdout);
    const queue = (JSON.parse(alerts.stdout) as { checks: { check: string; status: string }[] }).checks.find(
      (c) => c.check === 'queue:celery',
    );
    assert.equal(queue?.status, 'unknown');
    assert.ok(alerts.stderr.split('\n').includes(`mizual-alerts: ${line}`), alerts.stderr);
  });

  it('the password appears in no output, log line or state file', (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    assert.ok(outputs.length >= 6);
    for (const o of outputs) assert.ok(!`${o.stdout}${o.stderr}`.includes(password), o.stdout + o.stderr);
    assert.ok(!readFileSync(path.join(scratch.dir, 'alerts.log'), 'utf8').includes(password));
    const stateDir = path.join(scratch.dir, 'state');
    // Every file, the history's day files in their folder too.
    for (const file of readdirSync(stateDir, { recursive: true }) as string[]) {
      if (!statSync(path.join(stateDir, file)).isFile()) continue;
      assert.ok(!readFileSync(path.join(stateDir, file), 'utf8').includes(password), file);
    }
  });
});
