/**
 * Celery's figures judged the way celery-exporter's default alerts do: a task that failed in the window
 * (one check per task, whatever the number of worker containers), and a worker that says nothing while
 * its queue waits.
 */
import { MIN_TASKS } from '../limits.js';
import type { QueueFigure, SourceFigure, TaskFigure } from '../model.js';

/** `--worker-silent` default. */
export const DEFAULT_WORKER_SILENT = '15m';

/** One task over every worker container. */
export interface TaskVerdict {
  task: string;
  containers: string[];
  succeeded: number;
  failed: number;
  retried: number;
  expected: number;
  /** Percent of the finished runs (succeeded + failed) that failed. */
  percent: number;
  /** Too few runs for the share rule: any failure fails the check. */
  rare: boolean;
  failing: boolean;
}

/**
 * A verdict per task name: failing when at least `failuresPercent` of its finished runs failed, or, for
 * a task run fewer than MIN_TASKS times in the window (a nightly job), when any run failed.
 */
export function judgeTasks(tasks: TaskFigure[], failuresPercent: number): TaskVerdict[] {
  const by = new Map<string, TaskVerdict>();
  for (const t of tasks) {
    let v = by.get(t.task);
    if (!v) {
      v = {
        task: t.task,
        containers: [],
        succeeded: 0,
        failed: 0,
        retried: 0,
        expected: 0,
        percent: 0,
        rare: false,
        failing: false,
      };
      by.set(t.task, v);
    }
    if (!v.containers.includes(t.container)) v.containers.push(t.container);
    v.succeeded += t.succeeded;
    v.failed += t.failed;
    v.retried += t.retried;
    v.expected += t.expected ?? 0;
  }
  for (const v of by.values()) {
    const runs = v.succeeded + v.failed;
    v.percent = runs === 0 ? 0 : Math.round((v.failed / runs) * 1000) / 10;
    v.rare = runs < MIN_TASKS;
    v.failing = v.failed > 0 && (v.rare || v.percent >= failuresPercent);
  }
  return [...by.values()].sort((a, b) => a.task.localeCompare(b.task));
}

export interface WorkerSilence {
  container: string;
  /** Seconds since its last line; null when no line of it is kept. */
  silentSeconds: number | null;
  /** Messages waiting in the configured queues; null when the broker did not say. */
  waiting: number | null;
  stalled: boolean;
}

/** Each worker container: silent for at least `silentMs` while messages wait is stalled. */
export function judgeWorkers(
  sources: SourceFigure[],
  queues: QueueFigure[],
  silentMs: number,
  nowMs: number,
): WorkerSilence[] {
  const known = queues.filter((q) => q.length !== null);
  const waiting = known.length === 0 ? null : known.reduce((n, q) => n + (q.length as number), 0);
  return sources
    .filter((f) => f.worker)
    .map((f) => {
      const last = f.lastLineAt === null ? NaN : Date.parse(f.lastLineAt);
      const silentSeconds = Number.isFinite(last) ? Math.max(0, Math.round((nowMs - last) / 1000)) : null;
      const stalled = silentSeconds !== null && silentSeconds * 1000 >= silentMs && waiting !== null && waiting > 0;
      return { container: f.container, silentSeconds, waiting, stalled };
    });
}
