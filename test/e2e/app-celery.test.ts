// Celery task figures from a real worker's log (issue 20): Debian's python3-celery and python3-redis
// with a real redis-server, both in containers of the test engine; tasks sent from the host.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
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
    // The failing task: at least 5 finished runs are judged; 3 of 3 is not enough for tasks:tasks.fail.
    const alerts = await runTool('mizual-alerts', ['--json', '--cpu-sample', '0'], { env });
    const checks = (JSON.parse(alerts.stdout) as { checks: { check: string; status: string; note?: string }[] }).checks;
    assert.equal(checks.find((c) => c.check === 'tasks:tasks.fail')?.status, 'ok');
    assert.match(checks.find((c) => c.check === 'tasks:tasks.fail')?.note ?? '', /fewer than 5/);
    // Two more failures make 5 finished runs, all failed: WARNING, with the usual alert line.
    await sendTasks(dir, broker, [
      ['tasks.fail', []],
      ['tasks.fail', []],
    ]);
    await waitForCount(worker, /Task tasks\.fail\[[^\]]+\] raised unexpected/, 5);
    const again = await runTool('mizual-alerts', ['--json', '--cpu-sample', '0'], { env });
    const failing = (JSON.parse(again.stdout) as { checks: { check: string; status: string }[] }).checks.find(
      (c) => c.check === 'tasks:tasks.fail',
    );
    assert.equal(failing?.status, 'warning', again.stdout);
    const { readFileSync } = await import('node:fs');
    assert.match(
      readFileSync(env.MIZUAL_ALERT_LOG, 'utf8'),
      /Z WARNING tasks:tasks\.fail: tasks\.fail: 5 of 5 runs failed/,
    );
  });
});
