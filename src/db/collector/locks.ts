import { maskQuery, isHidden } from '../sql-text.js';
import { num, type Collector } from './collector.js';

/**
 * Sessions waiting on a lock and the sessions blocking them (pg_blocking_pids), longest first. The wait
 * is timed from pg_locks.waitstart (Postgres 14+), else from the start of the waiting statement.
 */
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
    const waitStart =
      ctx.serverVersion >= 140000
        ? '(SELECT min(l.waitstart) FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted)'
        : 'NULL::timestamptz';
    const rows = await ctx.query<Record<string, unknown>>(
      `SELECT pid, pg_blocking_pids(pid) AS blocked_by, query,
              extract(epoch FROM clock_timestamp() - coalesce(${waitStart}, query_start, state_change)) AS seconds
         FROM pg_stat_activity a
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
