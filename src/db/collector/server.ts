import { num, type Collector } from './collector.js';

/** The server's version and connection limits. */
export const serverCollector: Collector = {
  name: 'server',
  series: [
    {
      name: 'mizual_db_max_connections',
      help: 'max_connections of the Postgres server.',
      samples: (r) => [{ value: r.connections?.max ?? null }],
    },
    {
      name: 'mizual_db_reserved_connections',
      help: 'Connections reserved for superusers (and pg_use_reserved_connections from Postgres 16).',
      samples: (r) => [{ value: r.connections?.reserved ?? null }],
    },
  ],
  async scrape(ctx, report) {
    const rows = await ctx.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings
        WHERE name IN ('server_version', 'server_version_num', 'max_connections', 'superuser_reserved_connections', 'reserved_connections')`,
    );
    const get = (name: string) => rows.find((r) => r.name === name)?.setting;
    report.server = { version: get('server_version') ?? 'unknown' };
    ctx.serverVersion = num(get('server_version_num')) ?? 0;
    report.connections = {
      total: 0,
      max: num(get('max_connections')) ?? 0,
      // reserved_connections exists from Postgres 16 on.
      reserved: (num(get('superuser_reserved_connections')) ?? 0) + (num(get('reserved_connections')) ?? 0),
      byState: { active: 0, idle: 0, 'idle in transaction': 0, waiting: 0 },
    };
  },
};
