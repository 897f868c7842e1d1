// The live dashboard's sparklines: the last hour of a kept figure in a dozen block characters, one per
// five minutes (a cron period), blank where no sample was kept.
import { HOUR_MS } from '../core/trends.js';
import type { Segment } from './model.js';
import { pointsOf } from './store.js';

const BLOCKS = '▁▂▃▄▅▆▇█';
export const SPARK_WIDTH = 12;

/** One block per slice of the window (its highest value), scaled between the window's lowest and highest. */
export function sparkline(points: readonly [number, number | null][], nowMs: number, width = SPARK_WIDTH): string {
  const fromMs = nowMs - HOUR_MS;
  const cells: (number | undefined)[] = new Array(width).fill(undefined);
  for (const [t, v] of points) {
    if (v === null || t <= fromMs || t > nowMs) continue;
    // Cell c holds the slice (from + c, from + c + 1]: the run at now is the last cell.
    const c = Math.max(0, Math.ceil(((t - fromMs) / HOUR_MS) * width) - 1);
    cells[c] = Math.max(cells[c] ?? v, v);
  }
  const values = cells.filter((v): v is number => v !== undefined);
  if (values.length === 0) return '';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return cells
    .map((v) => (v === undefined ? ' ' : BLOCKS[hi > lo ? Math.round(((v - lo) / (hi - lo)) * 7) : 0]))
    .join('');
}

/**
 * A lookup of last-hour sparklines by series key (`cpu`, `fs.pct|/`, `ctr.mem|mizual-backend`,
 * `app.p95|mizual-backend`, `queue|celery`; `mem.used` for memory in use); '' when nothing was kept.
 */
export function sparklines(segments: readonly Segment[], nowMs: number): (key: string) => string {
  const recent = segments.filter((s) => s.t.length > 0 && (s.t.at(-1) as number) * 1000 > nowMs - HOUR_MS);
  return (key) => {
    if (key !== 'mem.used') return sparkline(pointsOf(recent, key), nowMs);
    const total = pointsOf(recent, 'mem.total');
    return sparkline(
      pointsOf(recent, 'mem.avail').map(([t, v], i) => {
        const all = total[i]?.[1];
        return [t, v === null || all === null || all === undefined ? null : all - v];
      }),
      nowMs,
    );
  };
}
