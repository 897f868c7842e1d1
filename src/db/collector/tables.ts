import { iso, num, type Collector } from './collector.js';

/** The largest tables with their dead-tuple share and last (auto)vacuum and (auto)analyze. */
export const tablesCollector: Collector = {
  name: 'tables',
  series: [],
  async scrape(ctx, report) {
    const rows = await ctx.query<Record<string, unknown>>(
      `SELECT schemaname, relname, pg_total_relation_size(relid) AS b, n_live_tup, n_dead_tup,
              greatest(last_vacuum, last_autovacuum) AS vacuumed,
              greatest(last_analyze, last_autoanalyze) AS analyzed
         FROM pg_stat_user_tables ORDER BY b DESC LIMIT 10`,
    );
    report.tables = rows.map((r) => {
      const live = num(r.n_live_tup) ?? 0;
      const dead = num(r.n_dead_tup) ?? 0;
      return {
        schema: String(r.schemaname),
        table: String(r.relname),
        sizeBytes: num(r.b) ?? 0,
        deadTupleRatio: live + dead > 0 ? Math.round((dead / (live + dead)) * 10_000) / 10_000 : null,
        lastVacuum: iso(r.vacuumed),
        lastAnalyze: iso(r.analyzed),
      };
    });
  },
};
