/**
 * The database checks of mizual-alerts, from one collection of the database figures (which also keeps
 * this run's statement snapshot and size sample for the windows and the regression check).
 */
import type { DbReport } from '../../db/model.js';
import { defineCheck } from '../check.js';
import { parseSize } from '../log.js';
import { loadAlertState, type Observation } from '../state.js';
import { formatBytes, parseDuration, parsePercent, parsePositiveInt, parsePositiveNumber } from '../../core/units.js';
import { configuredDbUrl } from '../../db/url.js';
import type { DialFn } from '../../docker/compose-hosts.js';

/** The database flags of mizual-alerts (`--db-*`). */
export interface DbFlags {
  longMs: number;
  windowMs: number;
  connectionsPercent: number;
  regressionMs: number;
  regressionCalls: number;
  slotBytes: number;
}

/** What one run of the database checks needs: the URL and the flags. */
export interface DbCheckOptions extends DbFlags {
  url: string;
  variable: string;
  /** Keep the snapshot (not with --dry-run). */
  keep: boolean;
  /** Where to connect for the URL's host (Compose names: src/docker/compose-hosts.ts). */
  dial?: DialFn;
}

const DEPENDENT = ['db:connections', 'db:long-query', 'db:idle-in-transaction', 'db:blocked', 'db:wraparound'];
/** Checks named after what they watch: held as they are (UNKNOWN) while the database cannot be asked. */
const NAMED = ['db:regression:', 'db:sequence:', 'db:slot:'];
/** A sequence this far through its column's range is a WARNING. */
export const SEQUENCE_PERCENT = 90;
export const DEFAULT_SLOT_BYTES = 1024 ** 3;

const fmt = (s: number): string =>
  s >= 60 ? `${Math.round(s / 6) / 10}m` : s >= 1 ? `${Math.round(s * 10) / 10}s` : `${Math.round(s * 10_000) / 10}ms`;
const short = (q: string | null): string => (q === null ? '<hidden>' : q.length > 80 ? `${q.slice(0, 79)}…` : q);

/** Collect the database figures (kept for the run's sample too) and turn them into observations. */
export async function checkDatabase(
  options: DbCheckOptions,
  stateDir: string,
  now: Date,
): Promise<{ observations: Observation[]; report: DbReport }> {
  const { collectDb } = await import('../../db/report.js');
  const report = await collectDb({
    ...options,
    stateDir,
    now,
    regression: { minMeanMs: options.regressionMs, minCalls: options.regressionCalls },
  });
  // Only when something cannot be judged: which named checks are active now, to hold them.
  const held =
    !report.available || report.regressionsUnjudged ? Object.keys((await loadAlertState(stateDir)).state.checks) : [];
  return { observations: dbObservations(report, options, held), report };
}

/** UNKNOWN for each of the given checks: their state stays as it is. */
function holdChecks(checks: string[], why: string): Observation[] {
  return checks.map((check) => ({
    check,
    severity: 'warning' as const,
    value: null,
    threshold: null,
    message: `not checked: ${why}`,
    unknown: true,
  }));
}

/** Observations from a database report: down, connections, long queries, idle transactions, locks, wraparound, regressions. */
export function dbObservations(
  db: DbReport,
  options: Pick<DbCheckOptions, 'longMs' | 'connectionsPercent'> & Partial<Pick<DbCheckOptions, 'slotBytes'>>,
  previousChecks: string[] = [],
): Observation[] {
  const longText = fmt(options.longMs / 1000);
  if (!db.available) {
    const reason = db.reason ?? 'not available';
    const named = previousChecks.filter((c) => NAMED.some((prefix) => c.startsWith(prefix)));
    return [
      { check: 'db:down', severity: 'critical', value: 0, threshold: null, message: reason, failing: true },
      ...DEPENDENT.map((check) => ({
        check,
        severity: 'warning' as const,
        value: null,
        threshold: null,
        message: `not checked: ${reason}`,
        unknown: true,
      })),
      ...holdChecks(named, reason),
    ];
  }
  const name = db.database ?? 'database';
  const out: Observation[] = [
    {
      check: 'db:down',
      severity: 'critical',
      value: 1,
      threshold: null,
      message: `${name} answers (Postgres ${db.server?.version.split(' ')[0] ?? '?'})`,
      failing: false,
    },
  ];
  const c = db.connections;
  if (c) {
    const usable = Math.max(1, c.max - c.reserved);
    const percent = Math.round((c.total / usable) * 1000) / 10;
    out.push({
      check: 'db:connections',
      severity: 'warning',
      value: percent,
      threshold: options.connectionsPercent,
      message: `${c.total} of ${usable} usable connections in use (${percent}%, threshold ${options.connectionsPercent}%)`,
      measure: { value: percent, threshold: options.connectionsPercent },
      data: { total: c.total, usable, idleInTransaction: c.byState['idle in transaction'], waiting: c.byState.waiting },
    });
  }
  const sessions = (state: 'active' | 'idle') =>
    db.longQueries.filter((q) =>
      state === 'active' ? q.state === 'active' : q.state.startsWith('idle in transaction'),
    );
  const describe = (list: DbReport['longQueries']) =>
    list
      .slice(0, 3)
      .map(
        (q) =>
          `pid ${q.pid} (${fmt(q.seconds)}, ${q.user ?? '?'}${q.application ? `/${q.application}` : ''}) ${short(q.query)}`,
      )
      .join('; ');
  const running = sessions('active');
  out.push({
    check: 'db:long-query',
    severity: 'warning',
    value: running.length,
    threshold: longText,
    message: running.length
      ? `${running.length} quer${running.length === 1 ? 'y' : 'ies'} running past ${longText}: ${describe(running)}`
      : `no query running past ${longText}`,
    failing: running.length > 0,
    data: { pids: running.map((q) => q.pid).join(',') },
  });
  const idle = sessions('idle');
  out.push({
    check: 'db:idle-in-transaction',
    severity: 'warning',
    value: idle.length,
    threshold: longText,
    message: idle.length
      ? `${idle.length} session${idle.length === 1 ? '' : 's'} idle in a transaction past ${longText}: ${describe(idle)}`
      : `no session idle in a transaction past ${longText}`,
    failing: idle.length > 0,
    data: { pids: idle.map((q) => q.pid).join(',') },
  });
  const blocked = db.blocked.filter((b) => b.seconds * 1000 > options.longMs);
  out.push({
    check: 'db:blocked',
    severity: 'warning',
    value: blocked.length,
    threshold: longText,
    message: blocked.length
      ? `${blocked.length} session${blocked.length === 1 ? '' : 's'} waiting on a lock past ${longText}: ` +
        blocked
          .slice(0, 3)
          .map((b) => `pid ${b.pid} (${fmt(b.seconds)}) blocked by ${b.blockedBy.join(',')}: ${short(b.query)}`)
          .join('; ')
      : `no session waiting on a lock past ${longText}`,
    failing: blocked.length > 0,
    data: { pids: blocked.map((b) => b.pid).join(',') },
  });
  if (db.wraparound) {
    // Multixact ids wrap around at the same 2^31: the nearer of the two counts.
    const mx = db.wraparound.multixactAge ?? 0;
    const mxPercent = Math.round((mx / 2 ** 31) * 10_000) / 100;
    const byMultixact = mxPercent > db.wraparound.percent;
    const p = byMultixact ? mxPercent : db.wraparound.percent;
    const oldest = db.wraparound.tables?.[0];
    out.push({
      check: 'db:wraparound',
      severity: p >= 75 ? 'critical' : 'warning',
      value: p,
      threshold: p >= 75 ? 75 : 50,
      message: byMultixact
        ? `multixact id age ${mx} is ${p}% of the way to wraparound`
        : `transaction id age ${db.wraparound.ageXids} is ${p}% of the way to wraparound` +
          (oldest ? ` (oldest table here: ${oldest.schema}.${oldest.table}, ${oldest.ageXids})` : ''),
      failing: p >= 50,
    });
  }
  for (const seq of db.sequences) {
    const column = seq.table && seq.column ? ` (feeds ${seq.table}.${seq.column})` : '';
    out.push({
      check: `db:sequence:${seq.name}`,
      severity: 'warning',
      value: seq.percent,
      threshold: SEQUENCE_PERCENT,
      message: `sequence ${seq.name}${column} has used ${seq.percent}% of its range`,
      failing: seq.percent >= SEQUENCE_PERCENT,
    });
  }
  const slotBytes = options.slotBytes ?? DEFAULT_SLOT_BYTES;
  for (const slot of db.slots ?? []) {
    const retained = slot.retainedBytes ?? 0;
    out.push({
      check: `db:slot:${slot.name}`,
      severity: 'warning',
      value: retained,
      threshold: slotBytes,
      message: `${slot.active ? 'active' : 'inactive'} ${slot.type} slot ${slot.name} retains ${formatBytes(retained)} of WAL (threshold ${formatBytes(slotBytes)} when inactive)`,
      failing: !slot.active && retained > slotBytes,
    });
  }
  if (db.regressionsUnjudged) {
    const raisedNow = new Set((db.regressions ?? []).map((r) => `db:regression:${r.queryid}`));
    out.push(
      ...holdChecks(
        previousChecks.filter((c) => c.startsWith('db:regression:') && !raisedNow.has(c)),
        db.regressionsUnjudged,
      ),
    );
  }
  const more = db.regressionsNotRaised ?? 0;
  for (const r of db.regressions ?? []) {
    out.push({
      check: `db:regression:${r.queryid}`,
      severity: 'warning',
      value: Math.round(r.recentMeanSeconds * 1e6) / 1e6,
      threshold: Math.round(r.baselineMeanSeconds * 2e6) / 1e6,
      message:
        `statement ${r.queryid} mean ${fmt(r.recentMeanSeconds)} over the last hour (${r.recentCalls} calls), ` +
        `${fmt(r.baselineMeanSeconds)} over the 24h before (${r.baselineCalls} calls): ${short(r.query)}` +
        (more > 0 ? ` (and ${more} more statement${more === 1 ? '' : 's'} regressed, not raised)` : ''),
      failing: true,
      ...(more > 0 ? { data: { notRaised: more } } : {}),
    });
  }
  return out;
}

/** The database checks' options when a database URL is configured, else null (no check, pg not loaded). */
export function dbCheckOptions(
  lookup: (name: 'MIZUAL_DATABASE_URL' | 'DATABASE_URL') => string | undefined,
  isSet: ((name: 'MIZUAL_DATABASE_URL') => boolean) | undefined,
  flags: DbFlags,
  dryRun: boolean,
): DbCheckOptions | null {
  const configured = configuredDbUrl(lookup, isSet);
  if (!configured) return null;
  return { ...configured, ...flags, keep: !dryRun };
}

/**
 * `db:*`, only with a database URL (pg is loaded only then). One collection of the database figures per
 * run gives every database check: down, connections, long queries, idle transactions, lock waits,
 * wraparound, regressions, sequences and slots.
 */
export const databaseCheck = defineCheck<DbFlags>({
  name: 'db',
  group: 'Database checks:',
  flags: {
    longMs: {
      flag: '--db-long <duration>',
      help: 'long query, idle transaction or lock wait',
      default: '30s',
      parse: parseDuration,
    },
    windowMs: {
      flag: '--db-window <duration>',
      more: true,
      help: 'window of the top statements',
      default: '1h',
      parse: parseDuration,
    },
    connectionsPercent: {
      flag: '--db-connections <percent>',
      help: 'share of the usable connections in use',
      default: '80',
      parse: parsePercent,
    },
    regressionMs: {
      flag: '--db-regression-ms <ms>',
      more: true,
      help: "a regression's least mean over the last hour",
      default: '20',
      parse: parsePositiveNumber,
    },
    regressionCalls: {
      flag: '--db-regression-calls <count>',
      more: true,
      help: "a regression's least calls over the last hour",
      default: '100',
      parse: (text, what) => parsePositiveInt(text, what),
    },
    slotBytes: {
      flag: '--db-slot-bytes <size>',
      more: true,
      help: 'WAL an inactive replication slot may hold',
      default: '1G',
      parse: parseSize,
    },
  },
  run: async (context, limits) => {
    const options = dbCheckOptions(context.config.lookup, context.config.isSet, limits, context.dryRun);
    if (!options) return { observations: [] };
    const dial = context.dial;
    const { observations, report } = await checkDatabase({ ...options, dial }, context.config.stateDir, context.now);
    return { observations, sample: { db: report } };
  },
});
