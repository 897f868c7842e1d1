import { num, type Collector } from './collector.js';

/** Wraparound happens at 2^31 transaction (or multixact) ids of age. */
const XID_LIMIT = 2 ** 31;
const TABLES = 5;

/**
 * The oldest unfrozen transaction id's age across every database of the server, the tables of this
 * database that hold it back (oldest relfrozenxid first: the ones a VACUUM FREEZE must reach), and the
 * oldest multixact's age (row locks shared by several transactions wrap around too).
 */
export const wraparoundCollector: Collector = {
  name: 'wraparound',
  series: [
    {
      name: 'mizual_db_xid_age',
      help: 'Age in transactions of the oldest unfrozen transaction id (wraparound at 2^31).',
      samples: (r) => [{ value: r.wraparound?.ageXids ?? null }],
    },
    {
      name: 'mizual_db_multixact_age',
      help: 'Age of the oldest multixact id across the databases (wraparound at 2^31).',
      samples: (r) => [{ value: r.wraparound?.multixactAge ?? null }],
    },
  ],
  async scrape(ctx, report) {
    const [row] = await ctx.query<{ age: string; mxid: string | null }>(
      'SELECT max(age(datfrozenxid)) AS age, max(mxid_age(datminmxid)) AS mxid FROM pg_database',
    );
    const age = num(row?.age);
    if (age === null) {
      report.wraparound = null;
      return;
    }
    const tables = await ctx.query<{ schema: string; table: string; age: string }>(
      `SELECT n.nspname AS schema, c.relname AS table, age(c.relfrozenxid) AS age
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid
        ORDER BY age(c.relfrozenxid) DESC, 1, 2 LIMIT ${TABLES}`,
    );
    report.wraparound = {
      ageXids: age,
      percent: Math.round((age / XID_LIMIT) * 10_000) / 100,
      tables: tables.map((t) => ({ schema: t.schema, table: t.table, ageXids: num(t.age) ?? 0 })),
      multixactAge: num(row?.mxid),
    };
  },
};
