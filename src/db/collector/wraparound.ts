import { num, type Collector } from './collector.js';

/** Wraparound happens at 2^31 transaction ids of age. */
const XID_LIMIT = 2 ** 31;

/** The oldest unfrozen transaction id's age, across every database of the server. */
export const wraparoundCollector: Collector = {
  name: 'wraparound',
  series: [
    {
      name: 'mizual_db_xid_age',
      help: 'Age in transactions of the oldest unfrozen transaction id (wraparound at 2^31).',
      samples: (r) => [{ value: r.wraparound?.ageXids ?? null }],
    },
  ],
  async scrape(ctx, report) {
    const [row] = await ctx.query<{ age: string }>('SELECT max(age(datfrozenxid)) AS age FROM pg_database');
    const age = num(row?.age);
    report.wraparound = age === null ? null : { ageXids: age, percent: Math.round((age / XID_LIMIT) * 10_000) / 100 };
  },
};
