import { maskQuery, isHidden } from '../sql-text.js';
import { num, type Collector } from './collector.js';

/**
 * Queries running longer than --db-long and sessions idle in a transaction longer than it (told apart
 * by `state`), oldest first.
 */
export const activityCollector: Collector = {
  name: 'activity',
  series: [
    {
      name: 'mizual_db_long_queries',
      help: 'Sessions running one query, or idle in a transaction, longer than --db-long.',
      samples: (r) => (r.available ? [{ value: r.longQueries.length }] : []),
    },
  ],
  async scrape(ctx, report) {
    const rows = await ctx.query<Record<string, unknown>>(
      `SELECT pid, usename, application_name, state, query,
              extract(epoch FROM clock_timestamp() -
                CASE WHEN state = 'active' THEN query_start ELSE state_change END) AS seconds
         FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> $1
          AND (state = 'active' OR state LIKE 'idle in transaction%')
          AND clock_timestamp() - CASE WHEN state = 'active' THEN query_start ELSE state_change END
              > make_interval(secs => $2)
        ORDER BY seconds DESC LIMIT 50`,
      [ctx.selfPid, ctx.longSeconds],
    );
    let hidden = 0;
    report.longQueries = rows.map((r) => {
      if (isHidden(r.query) || r.state === null) hidden++;
      return {
        pid: Number(r.pid),
        user: (r.usename as string | null) ?? null,
        application: (r.application_name as string | null) || null,
        state: String(r.state ?? 'unknown'),
        seconds: Math.round((num(r.seconds) ?? 0) * 10) / 10,
        query: isHidden(r.query) ? null : maskQuery((r.query as string | null) ?? null),
      };
    });
    if (hidden > 0 && !ctx.notes.includes(hiddenNote(ctx.user))) ctx.notes.push(hiddenNote(ctx.user));
  },
};

/** The one line that says what the role cannot see and how to let it. */
export function hiddenNote(user: string): string {
  return `other roles' queries are hidden from ${user}: GRANT pg_monitor TO "${user}";`;
}
