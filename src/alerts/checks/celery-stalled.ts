/**
 * `celery:stalled` (WARNING): a Celery worker that wrote no line for `--worker-silent` while messages
 * wait in its queues (celery-exporter's "no worker online", seen from the worker's own log). The worker's
 * last line comes from the application's log reading and the queue lengths from the broker, both read
 * once this run by the checks that own them.
 */
import { DEFAULT_WORKER_SILENT, judgeWorkers } from '../../app/logs/celery.js';
import type { AppReport } from '../../app/model.js';
import type { OutsideFigures } from '../../app/outside.js';
import { parseDuration } from '../../core/units.js';
import { defineCheck, sharedRead } from '../check.js';
import { APP_LOGS_READ } from './app-logs.js';
import { OUTSIDE_READ } from './outside.js';

export const celeryStalledCheck = defineCheck<{ workerSilentMs: number }>({
  name: 'celery:stalled',
  group: 'Application checks:',
  flags: {
    workerSilentMs: {
      flag: '--worker-silent <duration>',
      more: true,
      help: 'a Celery worker silent this long while its queue waits',
      default: DEFAULT_WORKER_SILENT,
      parse: parseDuration,
    },
  },
  run: async (context, limits) => {
    const [app, outside] = await Promise.all([
      sharedRead<{ report: AppReport }>(context, APP_LOGS_READ),
      sharedRead<{ figures: OutsideFigures }>(context, OUTSIDE_READ),
    ]);
    const workers = app
      ? judgeWorkers(
          app.report.sources ?? [],
          outside?.figures.queues ?? [],
          limits.workerSilentMs,
          context.now.getTime(),
        )
      : [];
    // Nothing to judge without a worker and the broker's answer.
    if (workers.length === 0 || workers.every((w) => w.waiting === null)) return { observations: [] };
    const stalled = workers.filter((w) => w.stalled);
    const waiting = workers[0]?.waiting ?? 0;
    const silent = (w: (typeof workers)[number]): string =>
      w.silentSeconds === null ? 'no line yet' : `silent ${formatSeconds(w.silentSeconds)}`;
    return {
      observations: [
        {
          check: 'celery:stalled',
          severity: 'warning',
          value: stalled.length,
          threshold: limits.workerSilentMs / 1000,
          failing: stalled.length > 0,
          message:
            stalled.length > 0
              ? `${stalled.map((w) => `${w.container} ${silent(w)}`).join(', ')} while ${waiting} message${waiting === 1 ? '' : 's'} wait in the queue`
              : `${workers.map((w) => `${w.container} ${silent(w)}`).join(', ')}; ${waiting} waiting`,
          data: { waiting, workers: workers.map((w) => w.container).join(',') },
        },
      ],
    };
  },
});

function formatSeconds(s: number): string {
  return s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.round(s / 60)}m` : `${s}s`;
}
