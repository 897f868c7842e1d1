import { num, type Collector } from './collector.js';
import { hiddenNote } from './activity.js';

const STATES = ['active', 'idle', 'idle in transaction', 'waiting'] as const;

/** Groups of sessions shown by application, user and client address. */
const BY_APPLICATION = 20;

/**
 * Connections of the whole server: the total from pg_stat_database.numbackends (which counts every
 * role's sessions, also for a role that may not see them), the split by state (disjoint: `waiting` is
 * any session waiting on a lock, `active` the other running ones, aborted transactions count as idle in
 * transaction; `partial` when other roles' sessions are hidden from us), sessions by application, user
 * and client address, and the oldest open transaction. Our own session is left out.
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
    // Other roles' sessions show neither type nor state to a role without pg_read_all_stats, but their
    // user and application_name are shown to everyone.
    const rows = await ctx.query<Record<string, unknown>>(
      `SELECT CASE WHEN backend_type IS NULL THEN 'hidden'
                   WHEN wait_event_type = 'Lock' THEN 'waiting'
                   WHEN state LIKE 'idle in transaction%' THEN 'idle in transaction'
                   WHEN state = 'idle' THEN 'idle'
                   ELSE 'active' END AS state,
              usename, nullif(application_name, '') AS application, host(client_addr) AS client, count(*) AS n
         FROM pg_stat_activity
        WHERE (backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL)) AND pid <> $1
        GROUP BY 1, 2, 3, 4`,
      [ctx.selfPid],
    );
    const [backends] = await ctx.query<{ n: string | null }>(
      `SELECT sum(numbackends) AS n FROM pg_stat_database WHERE datname IS NOT NULL`,
    );
    const conn = report.connections ?? {
      total: 0,
      max: 0,
      reserved: 0,
      byState: { active: 0, idle: 0, 'idle in transaction': 0, waiting: 0 },
    };
    let seen = 0;
    let hidden = 0;
    const groups = new Map<
      string,
      { application: string | null; user: string | null; client: string | null; count: number }
    >();
    for (const row of rows) {
      const n = num(row.n) ?? 0;
      seen += n;
      const application = (row.application as string | null) ?? null;
      const user = (row.usename as string | null) ?? null;
      const client = (row.client as string | null) ?? null;
      const key = JSON.stringify([application, user, client]);
      const group = groups.get(key) ?? { application, user, client, count: 0 };
      group.count += n;
      groups.set(key, group);
      if (row.state === 'hidden') {
        hidden += n;
        continue;
      }
      conn.byState[row.state as (typeof STATES)[number]] += n;
    }
    if (hidden > 0 && !ctx.notes.includes(hiddenNote(ctx.user))) ctx.notes.push(hiddenNote(ctx.user));
    // numbackends counts us too; never below what we saw ourselves.
    conn.total = Math.max(seen, (num(backends?.n) ?? seen + 1) - 1);
    conn.partial = hidden > 0;
    conn.byApplication = [...groups.values()]
      .sort((a, b) => b.count - a.count || String(a.application).localeCompare(String(b.application)))
      .slice(0, BY_APPLICATION);
    report.connections = conn;
    const [oldest] = await ctx.query<{ s: string | null }>(
      `SELECT extract(epoch FROM max(clock_timestamp() - xact_start)) AS s
         FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> $1`,
      [ctx.selfPid],
    );
    report.oldestTransactionSeconds = num(oldest?.s);
  },
};
