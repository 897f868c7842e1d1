import { maskQuery, isHidden } from '../sql-text.js';
import { num, type Collector } from './collector.js';

/** Sessions waiting on a lock and the sessions blocking them (pg_blocking_pids), longest first. */
export const locksCollector: Collector = {
  name: 'locks',
  series: [
    {
      name: 'mizual_db_blocked_sessions',
      help: 'Sessions waiting on a lock held by another session.',
      samples: (r) => (r.available ? [{ value: r.blocked.length }] : []),
    },
  ],
  async scrape(ctx, report) {
    const rows = await ctx.query<Record<string, unknown>>(
      `SELECT pid, pg_blocking_pids(pid) AS blocked_by, query,
              extract(epoch FROM clock_timestamp() - coalesce(query_start, state_change)) AS seconds
         FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> $1 AND wait_event_type = 'Lock'
          AND cardinality(pg_blocking_pids(pid)) > 0
        ORDER BY seconds DESC LIMIT 50`,
      [ctx.selfPid],
    );
    report.blocked = rows.map((r) => ({
      pid: Number(r.pid),
      blockedBy: ((r.blocked_by as unknown[]) ?? []).map(Number),
      seconds: Math.round((num(r.seconds) ?? 0) * 10) / 10,
      query: isHidden(r.query) ? null : maskQuery((r.query as string | null) ?? null),
    }));
  },
};
