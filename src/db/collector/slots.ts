import { num, type Collector } from './collector.js';

/**
 * Replication slots and the WAL each holds back (from its restart_lsn to the server's current position):
 * an inactive logical slot left by a CDC or realtime tool keeps every WAL segment since and fills the
 * disk. On a standby the position is the last replayed one.
 */
export const slotsCollector: Collector = {
  name: 'slots',
  series: [
    {
      name: 'mizual_db_slot_retained_bytes',
      help: 'WAL a replication slot holds back on the server, in bytes.',
      samples: (r) =>
        (r.slots ?? []).map((s) => ({
          value: s.retainedBytes,
          labels: { slot: s.name, type: s.type, active: String(s.active) },
        })),
    },
  ],
  async scrape(ctx, report) {
    const rows = await ctx.query<Record<string, unknown>>(
      `SELECT slot_name, slot_type, active,
              pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
                              restart_lsn) AS retained
         FROM pg_replication_slots ORDER BY retained DESC NULLS LAST, slot_name LIMIT 50`,
    );
    report.slots = rows.map((r) => ({
      name: String(r.slot_name),
      type: String(r.slot_type),
      active: Boolean(r.active),
      retainedBytes: num(r.retained),
    }));
  },
};
