import { num, type Collector } from './collector.js';

/** The database's counters from pg_stat_database: cache hit ratio, deadlocks, temporary bytes. */
export const databaseCollector: Collector = {
  name: 'database',
  series: [
    {
      name: 'mizual_db_cache_hit_ratio',
      help: 'Share of block reads served from shared buffers since the statistics were reset (0-1).',
      samples: (r) => [{ value: r.cacheHitRatio }],
    },
    {
      name: 'mizual_db_deadlocks_total',
      help: 'Deadlocks detected in the database (pg_stat_database.deadlocks).',
      samples: (r) => [{ value: r.deadlocks }],
    },
    {
      name: 'mizual_db_temp_bytes_total',
      help: 'Bytes written to temporary files by queries of the database.',
      samples: (r) => [{ value: r.tempBytes }],
    },
  ],
  async scrape(ctx, report) {
    const [row] = await ctx.query<Record<string, unknown>>(
      `SELECT blks_hit, blks_read, deadlocks, temp_bytes FROM pg_stat_database WHERE datname = current_database()`,
    );
    const hit = num(row?.blks_hit) ?? 0;
    const read = num(row?.blks_read) ?? 0;
    report.cacheHitRatio = hit + read > 0 ? Math.round((hit / (hit + read)) * 10_000) / 10_000 : null;
    report.deadlocks = num(row?.deadlocks);
    report.tempBytes = num(row?.temp_bytes);
  },
};
