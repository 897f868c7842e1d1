import { num, type Collector } from './collector.js';
import type { IndexAdvice } from '../model.js';

/** Each list is at most this long (largest first). */
const SHOWN = 20;
/** A table this big read mostly by sequential scans is missing an index (PgHero's rule). */
const MISSING_MIN_ROWS = 10_000;
const MISSING_SEQ_SHARE = 0.05;
const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`;

/**
 * Index advice, as PgHero gives it (no alert): tables of 10,000 rows or more read by sequential scans
 * more than 5% of the time (missing), indexes never scanned since the statistics were reset that are
 * neither unique nor behind a constraint (unused), indexes whose key columns lead another index of the
 * same kind on the same table (duplicate), and indexes a failed CREATE INDEX CONCURRENTLY left behind
 * (invalid). Each with its size.
 */
export const indexesCollector: Collector = {
  name: 'indexes',
  series: [],
  async scrape(ctx, report) {
    const missing = await ctx.query<Record<string, unknown>>(
      `SELECT schemaname AS schema, relname AS table, n_live_tup AS rows, pg_total_relation_size(relid) AS bytes,
              100.0 * seq_scan / (seq_scan + coalesce(idx_scan, 0)) AS seq_percent
         FROM pg_stat_user_tables
        WHERE n_live_tup >= $1 AND seq_scan > 0
          AND seq_scan::float8 / (seq_scan + coalesce(idx_scan, 0)) > $2
        ORDER BY n_live_tup DESC LIMIT ${SHOWN}`,
      [MISSING_MIN_ROWS, MISSING_SEQ_SHARE],
    );
    const unused = await ctx.query<Record<string, unknown>>(
      `SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS index,
              pg_relation_size(s.indexrelid) AS bytes
         FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND i.indisvalid AND NOT i.indisunique
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid)
        ORDER BY bytes DESC, 1, 2, 3 LIMIT ${SHOWN}`,
    );
    // `a` is redundant when its key columns (with their operator classes and collations) lead `b`'s, it
    // has no predicate or expression, backs no constraint, and its uniqueness (if any) is b's own.
    const duplicate = await ctx.query<Record<string, unknown>>(
      `SELECT * FROM (
       SELECT DISTINCT ON (a.indexrelid) n.nspname AS schema, t.relname AS table, ia.relname AS index,
              ib.relname AS covered_by, pg_relation_size(a.indexrelid) AS bytes
         FROM pg_index a
         JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
         JOIN pg_class ia ON ia.oid = a.indexrelid
         JOIN pg_class ib ON ib.oid = b.indexrelid
         JOIN pg_class t ON t.oid = a.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE ${USER_SCHEMAS}
          AND ia.relam = ib.relam AND a.indisvalid AND b.indisvalid
          AND a.indpred IS NULL AND b.indpred IS NULL AND a.indexprs IS NULL AND b.indexprs IS NULL
          AND a.indnatts = a.indnkeyatts AND a.indnkeyatts <= b.indnkeyatts
          AND (a.indkey::int2[])[0:a.indnkeyatts - 1] = (b.indkey::int2[])[0:a.indnkeyatts - 1]
          AND (a.indclass::oid[])[0:a.indnkeyatts - 1] = (b.indclass::oid[])[0:a.indnkeyatts - 1]
          AND (a.indcollation::oid[])[0:a.indnkeyatts - 1] = (b.indcollation::oid[])[0:a.indnkeyatts - 1]
          AND (NOT a.indisunique OR (b.indisunique AND a.indnkeyatts = b.indnkeyatts))
          AND (a.indnkeyatts < b.indnkeyatts OR a.indisunique < b.indisunique
               OR (a.indisunique = b.indisunique AND a.indexrelid > b.indexrelid))
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = a.indexrelid)
        ORDER BY a.indexrelid, b.indnkeyatts, b.indisunique DESC, ib.relname
       ) d ORDER BY bytes DESC, 1, 2, 3 LIMIT ${SHOWN}`,
    );
    const invalid = await ctx.query<Record<string, unknown>>(
      `SELECT n.nspname AS schema, t.relname AS table, c.relname AS index, pg_relation_size(c.oid) AS bytes
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_class t ON t.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE NOT i.indisvalid AND ${USER_SCHEMAS}
        ORDER BY bytes DESC, 1, 2, 3 LIMIT ${SHOWN}`,
    );
    const advice = (r: Record<string, unknown>): IndexAdvice => ({
      schema: String(r.schema),
      table: String(r.table),
      ...(r.index === undefined ? {} : { index: String(r.index) }),
      sizeBytes: num(r.bytes) ?? 0,
      ...(r.covered_by === undefined ? {} : { coveredBy: String(r.covered_by) }),
      ...(r.seq_percent === undefined ? {} : { seqScanPercent: Math.round((num(r.seq_percent) ?? 0) * 10) / 10 }),
      ...(r.rows === undefined ? {} : { rows: num(r.rows) ?? 0 }),
    });
    report.indexes = {
      missing: missing.map(advice),
      unused: unused.map(advice),
      duplicate: duplicate.map(advice),
      invalid: invalid.map(advice),
    };
  },
};
