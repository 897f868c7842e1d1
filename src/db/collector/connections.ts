import { num, type Collector } from './collector.js';
import { hiddenNote } from './activity.js';

const STATES = ['active', 'idle', 'idle in transaction', 'waiting'] as const;

/**
 * Client connections of the whole server by state (disjoint: `waiting` is any session waiting on a
 * lock, `active` the other running ones, aborted transactions count as idle in transaction), and the
 * oldest open transaction. Our own session is left out.
 */
export const connectionsCollector: Collector = {
  name: 'connections',
  series: [
    {
      name: 'mizual_db_connections',
      help: 'Client connections to the Postgres server by state (our own left out).',
      samples: (r) =>
        r.connections ? STATES.map((state) => ({ value: r.connections?.byState[state] ?? 0, labels: { state } })) : [],
    },
  ],
  async scrape(ctx, report) {
    const rows = await ctx.query<{ state: string; n: string }>(
      `SELECT CASE WHEN backend_type IS NULL THEN 'hidden'
                   WHEN wait_event_type = 'Lock' THEN 'waiting'
                   WHEN state LIKE 'idle in transaction%' THEN 'idle in transaction'
                   WHEN state = 'idle' THEN 'idle'
                   ELSE 'active' END AS state, count(*) AS n
         FROM pg_stat_activity
        WHERE (backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL)) AND pid <> $1
        GROUP BY 1`,
      [ctx.selfPid],
    );
    const conn = report.connections ?? {
      total: 0,
      max: 0,
      reserved: 0,
      byState: { active: 0, idle: 0, 'idle in transaction': 0, waiting: 0 },
    };
    for (const row of rows) {
      const n = num(row.n) ?? 0;
      // Other roles' sessions show neither type nor state to a role without pg_read_all_stats.
      if (row.state === 'hidden') {
        if (!ctx.notes.includes(hiddenNote(ctx.user))) ctx.notes.push(hiddenNote(ctx.user));
        continue;
      }
      conn.total += n;
      conn.byState[row.state as (typeof STATES)[number]] += n;
    }
    report.connections = conn;
    const [oldest] = await ctx.query<{ s: string | null }>(
      `SELECT extract(epoch FROM max(clock_timestamp() - xact_start)) AS s
         FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> $1`,
      [ctx.selfPid],
    );
    report.oldestTransactionSeconds = num(oldest?.s);
  },
};
