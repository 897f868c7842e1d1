import type { Exposition } from '../core/exposition.js';
import type { DbReport } from './model.js';
import { COLLECTORS } from './report.js';

/** Add the `mizual_db_*` series: up, then each collector's declared series. */
export function addDbSeries(metric: Exposition['metric'], db: DbReport): void {
  metric('mizual_db_up', 'Whether the database answered this run (1) or not (0).', db.available ? 1 : 0);
  if (!db.available) return;
  for (const collector of COLLECTORS) {
    for (const series of collector.series) {
      for (const sample of series.samples(db)) metric(series.name, series.help, sample.value, sample.labels);
    }
  }
}
