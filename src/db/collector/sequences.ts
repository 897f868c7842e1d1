import { num, type Collector } from './collector.js';

/** Sequences shown from this share of their maximum up. */
const SHOWN_FROM_PERCENT = 50;

/**
 * Sequences close to their maximum. A sequence's value is visible only with USAGE or SELECT on it, so
 * the ones the role may not read are counted and named in a note with the GRANT that shows them.
 */
export const sequencesCollector: Collector = {
  name: 'sequences',
  series: [],
  async scrape(ctx, report) {
    const rows = await ctx.query<Record<string, unknown>>(
      `SELECT s.schemaname, s.sequencename, s.last_value, s.min_value, s.max_value, s.increment_by,
              has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable
         FROM pg_sequences s
         JOIN pg_namespace n ON n.nspname = s.schemaname
         JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename`,
    );
    const unreadable = new Set<string>();
    const out: { name: string; percent: number }[] = [];
    for (const r of rows) {
      const last = num(r.last_value);
      const min = num(r.min_value) ?? 1;
      const max = num(r.max_value) ?? 0;
      if (last === null) {
        // Never used, or not readable by this role.
        if (!r.readable) unreadable.add(String(r.schemaname));
        continue;
      }
      const inc = num(r.increment_by) ?? 1;
      const used = inc > 0 ? (last - min) / (max - min) : (max - last) / (max - min);
      const percent = Math.round(used * 10_000) / 100;
      if (percent >= SHOWN_FROM_PERCENT) out.push({ name: `${r.schemaname}.${r.sequencename}`, percent });
    }
    report.sequences = out.sort((a, b) => b.percent - a.percent).slice(0, 10);
    if (unreadable.size > 0) {
      const schemas = [...unreadable].sort().map((s) => `"${s}"`);
      ctx.notes.push(
        `sequences in ${schemas.join(', ')} are not readable by ${ctx.user}: GRANT SELECT ON ALL SEQUENCES IN SCHEMA ${schemas.join(', ')} TO "${ctx.user}";`,
      );
    }
  },
};
