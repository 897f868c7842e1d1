/**
 * `mizual-ship-logs --prometheus FILE`: the shipper's own figures for node_exporter's textfile
 * collector, from the run's summary and the state it left. The `_total` counters carry on from the
 * previous file (a deleted file restarts them at 0, which Prometheus reads as a counter reset).
 * The file holds numbers only, never a setting, so 0644 (what the collector's user needs) is safe.
 */
import { promises as fsp } from 'node:fs';
import { createExposition } from '../core/exposition.js';
import { describeError, MizualError } from '../core/errors.js';
import { readShipState, type ShipState } from '../core/ship-state.js';
import { writeFileAtomic } from '../core/state-files.js';
import type { ShipSummary } from './run.js';

export interface ShipRun {
  /** null when the run failed before it could summarise. */
  summary: ShipSummary | null;
  startedMs: number;
  endedMs: number;
}

const COUNTERS = {
  lines: 'mizual_ship_lines_total',
  logBytes: 'mizual_ship_log_bytes_total',
  uploadedBytes: 'mizual_ship_uploaded_bytes_total',
  uploads: 'mizual_ship_uploads_total',
} as const;
type Counters = Record<keyof typeof COUNTERS, number>;

/** The counters of an earlier file of ours (0 for any not found: a missing or foreign file starts over). */
export function parseCounters(previous: string | null): Counters {
  const read = (name: string): number => {
    const m = new RegExp(`^${name} (\\d+(?:\\.\\d+)?(?:e\\+?\\d+)?)$`, 'm').exec(previous ?? '');
    const value = m ? Number(m[1]) : 0;
    return Number.isFinite(value) && value >= 0 ? value : 0;
  };
  return {
    lines: read(COUNTERS.lines),
    logBytes: read(COUNTERS.logBytes),
    uploadedBytes: read(COUNTERS.uploadedBytes),
    uploads: read(COUNTERS.uploads),
  };
}

const seconds = (iso: string | null): number | null => {
  const ms = iso === null ? NaN : Date.parse(iso);
  return Number.isNaN(ms) ? null : ms / 1000;
};

/** The exposition document for one run; `state` is what the run left (null when unreadable). */
export function renderShipMetrics(run: ShipRun, state: ShipState | null, previous: string | null): string {
  const { metric, text } = createExposition();
  const s = run.summary;
  const lines = s ? s.files.reduce((n, f) => n + f.lines, 0) : 0;
  const logBytes = s ? s.files.reduce((n, f) => n + f.bytes, 0) : 0;
  const uploadedBytes = s ? s.uploaded.reduce((n, u) => n + u.bytes, 0) : 0;
  const uploads = s?.uploaded.length ?? 0;
  const ok = s !== null && s.uploadError === null;
  metric('mizual_ship_last_run_timestamp_seconds', 'When the last run ended.', run.endedMs / 1000);
  metric('mizual_ship_last_run_success', '1 when the last run archived and uploaded everything.', ok ? 1 : 0);
  metric('mizual_ship_last_run_duration_seconds', 'How long the last run took.', (run.endedMs - run.startedMs) / 1000);
  metric('mizual_ship_last_run_lines', 'Log lines archived by the last run.', lines);
  metric('mizual_ship_last_run_log_bytes', 'Uncompressed log bytes archived by the last run.', logBytes);
  metric('mizual_ship_last_run_uploaded_bytes', 'Archive bytes uploaded by the last run.', uploadedBytes);
  metric(
    'mizual_ship_last_upload_timestamp_seconds',
    'When an archive was last uploaded (absent until the first upload).',
    seconds(state?.lastUploadAt ?? null),
  );
  metric(
    'mizual_ship_last_success_timestamp_seconds',
    'When a run last ended without error.',
    seconds(state?.lastSuccessAt ?? null),
  );
  metric(
    'mizual_ship_pending_archives',
    'Archives waiting in MIZUAL_LOG_DIR for upload.',
    state?.pending.length ?? s?.pending.length ?? null,
  );
  const before = parseCounters(previous);
  metric(COUNTERS.lines, 'Log lines archived.', before.lines + lines, {}, 'counter');
  metric(COUNTERS.logBytes, 'Uncompressed log bytes archived.', before.logBytes + logBytes, {}, 'counter');
  metric(COUNTERS.uploadedBytes, 'Archive bytes uploaded.', before.uploadedBytes + uploadedBytes, {}, 'counter');
  metric(COUNTERS.uploads, 'Archives uploaded.', before.uploads + uploads, {}, 'counter');
  return text();
}

/** Write the figures of this run to `file` atomically (mode 0644); the directory must exist. */
export async function writeShipMetrics(file: string, stateDir: string, run: ShipRun): Promise<void> {
  const previous = await fsp.readFile(file, 'utf8').catch(() => null);
  // A corrupt state already failed the run; the figures then just leave the state's part out.
  const state = await readShipState(stateDir).catch(() => null);
  try {
    await writeFileAtomic(file, renderShipMetrics(run, state, previous), 0o644);
  } catch (err) {
    throw new MizualError(`cannot write --prometheus file ${file}: ${describeError(err)}`, undefined, { cause: err });
  }
}
