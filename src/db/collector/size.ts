import { growthPerDay } from '../history.js';
import { num, type Collector } from './collector.js';

/** The database's size, its growth per day from the kept samples, and the size of each schema. */
export const sizeCollector: Collector = {
  name: 'size',
  series: [
    {
      name: 'mizual_db_size_bytes',
      help: 'Size of the database on disk (pg_database_size).',
      samples: (r) => (r.sizeBytes === null ? [] : [{ value: r.sizeBytes, labels: { datname: r.database ?? '' } }]),
    },
    {
      name: 'mizual_db_growth_bytes_per_day',
      help: "Growth of the database's size per day over the kept samples (up to 7 days).",
      samples: (r) => [{ value: r.growthBytesPerDay }],
    },
  ],
  async scrape(ctx, report) {
    const [row] = await ctx.query<{ b: string }>('SELECT pg_database_size(current_database()) AS b');
    report.sizeBytes = num(row?.b);
    report.growthBytesPerDay =
      report.sizeBytes === null ? null : growthPerDay(ctx.history, report.sizeBytes, ctx.nowMs);
    const schemas = await ctx.query<{ schema: string; b: string }>(
      `SELECT n.nspname AS schema, sum(pg_total_relation_size(c.oid)) AS b
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%'
        GROUP BY 1 ORDER BY 2 DESC LIMIT 20`,
    );
    report.schemas = schemas.map((s) => ({ schema: s.schema, sizeBytes: num(s.b) ?? 0 }));
  },
};
