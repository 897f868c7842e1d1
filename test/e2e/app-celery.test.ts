// Celery task figures from a real worker's log (issue 20): Debian's python3-celery and python3-redis
// with a real redis-server, both in containers of the test engine; tasks sent from the host.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { dockerAvailable } from '../harness/docker.js';
import {
  countLogLines,
  removeAppContainers,
  sendTasks,
  startPython,
  startRedis,
  waitForLog,
  writeCeleryApp,
} from '../harness/app-stack.js';
import { runTool } from '../helpers/cli.js';
import type { TaskFigure } from '../../src/app/model.js';

const available = await dockerAvailable();
const tag = `${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
const dir = mkdtempSync(path.join(tmpdir(), 'mizual-app-celery-'));

async function waitForCount(name: string, re: RegExp, n: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  while (Date.now() < deadline) {
    seen = await countLogLines(name, re);
    if (seen >= n) return;
    await sleep(250);
  }
  throw new Error(`${name}: ${seen} of ${n} lines matching ${re}`);
}

describe('Celery task figures from a real worker', { skip: !available && 'no Docker engine' }, () => {
  after(async () => {
    await removeAppContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('known numbers of tasks succeed, fail and retry; durations within 10%', async () => {
    writeCeleryApp(dir);
    const redis = await startRedis(`mizual-test-app-${tag}`, dir);
    const broker = `redis://127.0.0.1:${redis.port}/0`;
    const worker = `mizual-test-app-celery-${tag}`;
    await startPython(
      worker,
      dir,
      [
        'python3',
        '-m',
        'celery',
        '-A',
        'tasks',
        'worker',
        '--loglevel=info',
        '--concurrency=2',
        '--without-gossip',
        '--without-mingle',
      ],
      { env: { BROKER: broker } },
    );
    await waitForLog(worker, 'ready.');
    await sendTasks(dir, broker, [
      ...Array.from({ length: 4 }, (): [string, unknown[]] => ['tasks.sleepy', [0.4]]),
      ...Array.from({ length: 3 }, (): [string, unknown[]] => ['tasks.fail', []]),
      ...Array.from({ length: 2 }, (): [string, unknown[]] => ['tasks.flaky', []]),
    ]);
    await waitForCount(worker, /Task tasks\.(sleepy|flaky)\[[^\]]+\] succeeded in/, 6);
    await waitForCount(worker, /Task tasks\.fail\[[^\]]+\] raised unexpected/, 3);
    const env = {
      MIZUAL_STATE_DIR: path.join(dir, 'state'),
      MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
      MIZUAL_CONTAINERS: `celery=${worker}`,
    };
    const r = await runTool('mizual-metrics', ['--json', '--sample', '1'], { env });
    assert.equal(r.exitCode, 0, r.stderr);
    const tasks = (JSON.parse(r.stdout) as { app: { tasks: TaskFigure[] } }).app.tasks;
    const by = new Map(tasks.map((t) => [t.task, t]));
    assert.deepEqual(
      [...by.values()].map((t) => [t.container, t.task, t.succeeded, t.failed, t.retried]),
      [
        ['celery', 'tasks.fail', 0, 3, 0],
        ['celery', 'tasks.flaky', 2, 0, 2],
        ['celery', 'tasks.sleepy', 4, 0, 0],
      ],
    );
    const sleepy = by.get('tasks.sleepy')?.duration;
    assert.ok(sleepy, 'succeeded tasks carry their duration');
    // The truth is what the worker itself measured (`succeeded in …s`), at least the 0.4 s slept.
    const logged = await execa('docker', ['logs', worker], { all: true });
    const truth = [...String(logged.all).matchAll(/Task tasks\.sleepy\[[^\]]+\] succeeded in ([\d.e-]+)s/g)]
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    assert.equal(truth.length, 4);
    assert.ok((truth[0] as number) >= 0.4, String(truth));
    const rank = (q: number): number => truth[Math.max(0, Math.ceil(q * truth.length) - 1)] as number;
    const within = (v: number, want: number): boolean => Math.abs(v - want) <= want * 0.1;
    assert.ok(within(sleepy.p50, rank(0.5)), `p50 ${sleepy.p50} vs ${String(truth)}`);
    assert.ok(within(sleepy.p95, rank(0.95)), `p95 ${sleepy.p95} vs ${String(truth)}`);
    assert.ok(within(sleepy.max, rank(1)), `max ${sleepy.max} vs ${String(truth)}`);
    // A task run fewer than 5 times fails its check on any failure (a nightly job is never 5 runs).
    const alerts = await runTool('mizual-alerts', ['--json', '--cpu-sample', '0'], { env });
    const checks = (JSON.parse(alerts.stdout) as { checks: { check: string; status: string; note?: string }[] }).checks;
    assert.equal(checks.find((c) => c.check === 'tasks:tasks.fail')?.status, 'warning', alerts.stdout);
    assert.match(
      checks.find((c) => c.check === 'tasks:tasks.fail')?.note ?? '',
      /fewer than 5 runs: any failure counts/,
    );
    assert.equal(checks.find((c) => c.check === 'tasks:tasks.sleepy')?.status, 'ok');
    assert.match(
      readFileSync(env.MIZUAL_ALERT_LOG, 'utf8'),
      /Z WARNING tasks:tasks\.fail: tasks\.fail: 3 of 3 runs failed/,
    );
  });
});

describe(
  'Celery failures the real worker logs, two workers, a stalled worker',
  { skip: !available && 'no Docker engine' },
  () => {
    const dir2 = mkdtempSync(path.join(tmpdir(), 'mizual-app-celery2-'));
    after(async () => {
      await removeAppContainers();
      rmSync(dir2, { recursive: true, force: true });
    });

    it('hard and soft time limits, a pool process killed with signal 9: counted once each; one tasks: check over two workers; celery:stalled', async () => {
      writeCeleryApp(dir2);
      const redis = await startRedis(`mizual-test-app2-${tag}`, dir2);
      const broker = `redis://127.0.0.1:${redis.port}/0`;
      const workers = [`mizual-test-app-celery-a-${tag}`, `mizual-test-app-celery-b-${tag}`];
      for (const w of workers) {
        await startPython(
          w,
          dir2,
          [
            'python3',
            '-m',
            'celery',
            '-A',
            'tasks',
            'worker',
            '--loglevel=info',
            '--concurrency=1',
            '--without-gossip',
            '--without-mingle',
            '--prefetch-multiplier=1',
          ],
          { env: { BROKER: broker } },
        );
      }
      for (const w of workers) await waitForLog(w, 'ready.');
      await sendTasks(dir2, broker, [
        ['tasks.hard', []],
        ['tasks.soft', []],
        ['tasks.die', []],
        ...Array.from({ length: 4 }, (): [string, unknown[]] => ['tasks.fail', []]),
        ...Array.from({ length: 4 }, (): [string, unknown[]] => ['tasks.sleepy', [0.05]]),
      ]);
      // The truth, from the workers' own logs (both together).
      const count = async (re: RegExp): Promise<number> =>
        (await Promise.all(workers.map((w) => countLogLines(w, re)))).reduce((a, b) => a + b, 0);
      const deadline = Date.now() + 90_000;
      const shapes = {
        hard: /Hard time limit \(1s\) exceeded for tasks\.hard\[/,
        softRaised: /Task tasks\.soft\[[^\]]+\] raised unexpected/,
        lost: /Task handler raised error: WorkerLostError\(.*signal 9/,
        fail: /Task tasks\.fail\[[^\]]+\] raised unexpected/,
        ok: /Task tasks\.sleepy\[[^\]]+\] succeeded in/,
      };
      const want = { hard: 1, softRaised: 1, lost: 1, fail: 4, ok: 4 };
      for (;;) {
        const seen = await Promise.all(Object.values(shapes).map((re) => count(re)));
        if (seen.every((n, i) => n >= (Object.values(want)[i] as number))) break;
        if (Date.now() > deadline) throw new Error(`worker lines seen: ${JSON.stringify(seen)}`);
        await sleep(500);
      }
      assert.equal(
        await count(/Soft time limit \(1s\) exceeded for tasks\.soft\[/),
        1,
        'the soft limit logs its own line',
      );
      assert.equal(await count(/Task handler raised error: TimeLimitExceeded/), 1, 'and the hard limit a handler line');
      const env = {
        MIZUAL_STATE_DIR: path.join(dir2, 'state'),
        MIZUAL_ALERT_LOG: path.join(dir2, 'alerts.log'),
        MIZUAL_CONTAINERS: `ca=${workers[0]},cb=${workers[1]}`,
        CELERY_BROKER_URL: broker,
      };
      const r = await runTool('mizual-metrics', ['--json', '--sample', '1'], { env });
      assert.equal(r.exitCode, 0, r.stderr);
      const tasks = (JSON.parse(r.stdout) as { app: { tasks: TaskFigure[] } }).app.tasks;
      const sum = (task: string, field: 'succeeded' | 'failed'): number =>
        tasks.filter((t) => t.task === task).reduce((n, t) => n + t[field], 0);
      assert.equal(sum('tasks.hard', 'failed'), 1, JSON.stringify(tasks));
      assert.equal(sum('tasks.soft', 'failed'), 1, 'the soft limit and its raised line are one failure');
      assert.equal(sum('(worker lost)', 'failed'), 1);
      assert.equal(sum('tasks.fail', 'failed'), 4);
      assert.equal(sum('tasks.sleepy', 'succeeded'), 4);
      assert.ok(tasks.every((t) => t.expected === 0));
      // Alerts twice: one tasks:tasks.fail check (over both workers), raised once and not sent again.
      const run = async (): Promise<{ check: string; status: string; message: string }[]> => {
        const a = await runTool('mizual-alerts', ['--json', '--cpu-sample', '0', '--worker-silent', '2s'], { env });
        return (JSON.parse(a.stdout) as { checks: { check: string; status: string; message: string }[] }).checks;
      };
      const first = await run();
      assert.equal(first.filter((c) => c.check === 'tasks:tasks.fail').length, 1);
      for (const name of ['tasks:tasks.fail', 'tasks:tasks.hard', 'tasks:tasks.soft', 'tasks:(worker lost)']) {
        assert.equal(first.find((c) => c.check === name)?.status, 'warning', name);
      }
      assert.equal(first.find((c) => c.check === 'tasks:tasks.sleepy')?.status, 'ok');
      assert.equal(first.find((c) => c.check === 'celery:stalled')?.status, 'ok', 'the queue is empty');
      await run();
      const log = readFileSync(env.MIZUAL_ALERT_LOG, 'utf8');
      assert.equal(log.match(/WARNING tasks:tasks\.fail: /g)?.length, 1, log);
      // Both workers frozen while messages wait: silent past --worker-silent, celery:stalled. A worker
      // frozen inside its blocking BRPOP still has one message handed to its socket by Redis, so of 5
      // sent at least 3 wait, and the message names how many the queue really holds.
      for (const w of workers) await execa('docker', ['pause', w]);
      try {
        await sendTasks(
          dir2,
          broker,
          Array.from({ length: 5 }, (): [string, unknown[]] => ['tasks.sleepy', [0]]),
        );
        const llen = await execa('docker', [
          'exec',
          redis.name,
          'redis-cli',
          '-p',
          String(redis.port),
          'LLEN',
          'celery',
        ]);
        const waiting = Number(llen.stdout.trim());
        assert.ok(waiting >= 3 && waiting <= 5, `LLEN ${waiting}`);
        await sleep(3000);
        const stalled = (await run()).find((c) => c.check === 'celery:stalled');
        assert.equal(stalled?.status, 'warning', JSON.stringify(stalled));
        assert.match(stalled?.message ?? '', new RegExp(`while ${waiting} messages wait in the queue`));
      } finally {
        for (const w of workers) await execa('docker', ['unpause', w], { reject: false });
      }
    });
  },
);
