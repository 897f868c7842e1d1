import { num, type Collector } from './collector.js';

/** Sequences shown from this share of their range up. */
const SHOWN_FROM_PERCENT = 50;
const SHOWN = 10;

/**
 * Sequences close to the end of their range, where the range is the smaller of the sequence's own and
 * that of the column it feeds (an `integer` column fed by a `bigint` sequence overflows at 2^31 - 1, not
 * at the sequence's maximum). The column is the one that owns the sequence (serial, identity) or whose
 * default calls it (`nextval('seq')`, PgHero's case); the smallest such column's range counts. A
 * sequence's value is visible only with USAGE or SELECT on it, so the ones the role may not read are
 * named in a note with the GRANT that shows them.
 */
export const sequencesCollector: Collector = {
  name: 'sequences',
  series: [],
  async scrape(ctx, report) {
    const rows = await ctx.query<Record<string, unknown>>(
      `WITH feeds AS (
         SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS attnum
           FROM pg_depend d
          WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
            AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
         UNION
         SELECT d.refobjid, ad.adrelid, ad.adnum
           FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
          WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
       ), columns AS (
         SELECT DISTINCT ON (f.seq) f.seq, tn.nspname AS table_schema, t.relname AS table_name,
                a.attname AS column_name,
                CASE a.atttypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647
                  ELSE 9223372036854775807 END::numeric AS column_max
           FROM feeds f
           JOIN pg_class t ON t.oid = f.rel
           JOIN pg_namespace tn ON tn.oid = t.relnamespace
           JOIN pg_attribute a ON a.attrelid = f.rel AND a.attnum = f.attnum AND NOT a.attisdropped
          WHERE a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
          ORDER BY f.seq, column_max
       )
       SELECT s.schemaname, s.sequencename, s.last_value, s.min_value, s.max_value, s.increment_by,
              has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable,
              col.table_schema, col.table_name, col.column_name, col.column_max::text AS column_max
         FROM pg_sequences s
         JOIN pg_namespace n ON n.nspname = s.schemaname
         JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
         LEFT JOIN columns col ON col.seq = c.oid`,
    );
    const unreadable = new Set<string>();
    const out: { name: string; table: string | null; column: string | null; percent: number }[] = [];
    for (const r of rows) {
      const last = num(r.last_value);
      const min = num(r.min_value) ?? 1;
      const seqMax = num(r.max_value) ?? 0;
      if (last === null) {
        // Never used, or not readable by this role.
        if (!r.readable) unreadable.add(String(r.schemaname));
        continue;
      }
      const columnMax = num(r.column_max);
      const inc = num(r.increment_by) ?? 1;
      const max = columnMax === null ? seqMax : Math.min(seqMax, columnMax);
      // A descending sequence ends at its minimum (or the column's: -max - 1).
      const low = columnMax === null ? min : Math.max(min, -columnMax - 1);
      const used = inc > 0 ? (last - min) / (max - min) : (seqMax - last) / (seqMax - low);
      const percent = Math.round(Math.min(1, Math.max(0, used)) * 10_000) / 100;
      if (percent >= SHOWN_FROM_PERCENT) {
        out.push({
          name: `${r.schemaname}.${r.sequencename}`,
          table: r.table_name ? `${r.table_schema}.${r.table_name}` : null,
          column: (r.column_name as string | null) ?? null,
          percent,
        });
      }
    }
    report.sequences = out.sort((a, b) => b.percent - a.percent).slice(0, SHOWN);
    if (unreadable.size > 0) {
      const schemas = [...unreadable].sort().map((s) => `"${s}"`);
      ctx.notes.push(
        `sequences in ${schemas.join(', ')} are not readable by ${ctx.user}: GRANT SELECT ON ALL SEQUENCES IN SCHEMA ${schemas.join(', ')} TO "${ctx.user}";`,
      );
    }
  },
};
