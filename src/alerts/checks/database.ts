/**
 * The database checks of mizual-alerts, from one collection of the database figures (which also keeps
 * this run's statement snapshot and size sample for the windows and the regression check).
 */
import type { DbReport } from '../../db/model.js';
import { defineCheck } from '../check.js';
import type { Observation } from '../state.js';
import { parseDuration, parsePercent } from '../../core/units.js';
import { configuredDbUrl } from '../../db/url.js';
import type { DialFn } from '../../docker/compose-hosts.js';

export interface DbCheckOptions {
  url: string;
  variable: string;
  longMs: number;
  windowMs: number;
  /** --db-connections: percent of max_connections less the reserved ones. */
  connectionsPercent: number;
  /** Keep the snapshot (not with --dry-run). */
  keep: boolean;
  /** Where to connect for the URL's host (Compose names: src/docker/compose-hosts.ts). */
  dial?: DialFn;
}

const DEPENDENT = ['db:connections', 'db:long-query', 'db:idle-in-transaction', 'db:blocked', 'db:wraparound'];

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
  const report = await collectDb({ ...options, stateDir, now });
  return { observations: dbObservations(report, options), report };
}

/** Observations from a database report: down, connections, long queries, idle transactions, locks, wraparound, regressions. */
export function dbObservations(
  db: DbReport,
  options: Pick<DbCheckOptions, 'longMs' | 'connectionsPercent'>,
): Observation[] {
  const longText = fmt(options.longMs / 1000);
  if (!db.available) {
    const reason = db.reason ?? 'not available';
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
    const p = db.wraparound.percent;
    out.push({
      check: 'db:wraparound',
      severity: p >= 75 ? 'critical' : 'warning',
      value: p,
      threshold: p >= 75 ? 75 : 50,
      message: `transaction id age ${db.wraparound.ageXids} is ${p}% of the way to wraparound`,
      failing: p >= 50,
    });
  }
  for (const r of db.regressions ?? []) {
    out.push({
      check: `db:regression:${r.queryid}`,
      severity: 'warning',
      value: Math.round(r.recentMeanSeconds * 1e6) / 1e6,
      threshold: Math.round(r.baselineMeanSeconds * 2e6) / 1e6,
      message:
        `statement ${r.queryid} mean ${fmt(r.recentMeanSeconds)} over the last hour (${r.recentCalls} calls), ` +
        `${fmt(r.baselineMeanSeconds)} over the 24h before (${r.baselineCalls} calls): ${short(r.query)}`,
      failing: true,
    });
  }
  return out;
}

/** The database checks' options when a database URL is configured, else null (no check, pg not loaded). */
export function dbCheckOptions(
  lookup: (name: 'MIZUAL_DATABASE_URL' | 'DATABASE_URL') => string | undefined,
  isSet: ((name: 'MIZUAL_DATABASE_URL') => boolean) | undefined,
  flags: { longMs: number; windowMs: number; connectionsPercent: number },
  dryRun: boolean,
): DbCheckOptions | null {
  const configured = configuredDbUrl(lookup, isSet);
  if (!configured) return null;
  return { ...configured, ...flags, keep: !dryRun };
}

/** `db:*`, only with a database URL (pg is loaded only then). */
export const databaseCheck = defineCheck({
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
  },
  run: async (context, limits) => {
    const options = dbCheckOptions(context.config.lookup, context.config.isSet, limits, context.dryRun);
    if (!options) return { observations: [] };
    const dial = context.dial;
    const { observations, report } = await checkDatabase({ ...options, dial }, context.config.stateDir, context.now);
    return { observations, sample: { db: report } };
  },
});
