/**
 * The database figures of one run: parse the URL, open the one connection, run every collector in turn
 * inside one read-only transaction (each in a savepoint, so a figure the role may not read is a note and
 * the rest still come), and (for mizual-alerts) keep this run's snapshot. Never throws: a database that
 * cannot be reached is a report with `available: false` and a reason that names host and database only.
 * Past the run's deadline nothing more is done: a connection that arrives late is closed, nothing is kept.
 */
import { activityCollector } from './collector/activity.js';
import type { Collector, ScrapeContext } from './collector/collector.js';
import { connectionsCollector } from './collector/connections.js';
import { databaseCollector } from './collector/database.js';
import { indexesCollector } from './collector/indexes.js';
import { locksCollector } from './collector/locks.js';
import { sequencesCollector } from './collector/sequences.js';
import { serverCollector } from './collector/server.js';
import { sizeCollector } from './collector/size.js';
import { slotsCollector } from './collector/slots.js';
import { statementsCollector } from './collector/statements.js';
import { tablesCollector } from './collector/tables.js';
import { wraparoundCollector } from './collector/wraparound.js';
import { DbError, openSession, scrub, type DbSession } from './connection.js';
import {
  addSizeSample,
  addSnapshot,
  emptyHistory,
  DEFAULT_REGRESSION_RULES,
  formatWindow,
  judgeRegressions,
  readDbHistory,
  writeDbHistory,
  type DbHistory,
  type RegressionRules,
} from './history.js';
import type { DbReport } from './model.js';
import { describeError } from '../core/errors.js';
import type { DialFn } from '../docker/compose-hosts.js';
import { DbUrlError, parseDbUrl, type DbTarget } from './url.js';

/** Every collector, in the order they run on the one connection. */
export const COLLECTORS: readonly Collector[] = [
  serverCollector,
  connectionsCollector,
  activityCollector,
  locksCollector,
  statementsCollector,
  sizeCollector,
  tablesCollector,
  databaseCollector,
  wraparoundCollector,
  sequencesCollector,
  indexesCollector,
  slotsCollector,
];

/** Regressions raised per run at most; the others are counted. */
export const MAX_REGRESSIONS = 5;

/** The whole run (connect and every statement) ends within this, whatever the server does. */
export const RUN_DEADLINE_MS = 15_000;

export interface DbOptions {
  /** The URL as configured (MIZUAL_DATABASE_URL, else DATABASE_URL). */
  url: string;
  /** Which variable it came from, for messages. */
  variable: string;
  stateDir: string;
  longMs: number;
  windowMs: number;
  now: Date;
  /** mizual-alerts: keep this run's statement snapshot and size sample. */
  keep: boolean;
  /** --db-regression-ms and --db-regression-calls. */
  regression?: RegressionRules;
  /** Where to connect for the URL's host (a Compose name: its container, src/docker/compose-hosts.ts). */
  dial?: DialFn;
}

/** A report with nothing in it but why. */
export function unavailableDb(reason: string, windowMs: number): DbReport {
  return {
    available: false,
    reason,
    server: null,
    connections: null,
    oldestTransactionSeconds: null,
    longQueries: [],
    blocked: [],
    statements: { available: false, reason, window: formatWindow(windowMs), top: [] },
    sizeBytes: null,
    growthBytesPerDay: null,
    schemas: [],
    tables: [],
    cacheHitRatio: null,
    deadlocks: null,
    tempBytes: null,
    wraparound: null,
    sequences: [],
    database: null,
    notes: [],
    regressions: [],
  };
}

/** Collect the database figures; never throws, never lets the password through. */
export async function collectDb(options: DbOptions): Promise<DbReport> {
  let target: DbTarget;
  try {
    target = parseDbUrl(options.url, options.variable);
  } catch (err) {
    if (err instanceof DbUrlError) return unavailableDb(err.message, options.windowMs);
    return unavailableDb(`${options.variable} cannot be read`, options.windowMs);
  }
  let via: string | null = null;
  if (options.dial && !target.host.startsWith('/') && target.hosts.length === 1) {
    try {
      const to = await options.dial(target.host, target.port);
      // Only where to connect changes: TLS still verifies the URL's host, and messages name the URL's host.
      if (to.container) {
        const server = { host: to.host, port: to.port, servername: target.host };
        [target, via] = [{ ...target, host: to.host, port: to.port, hosts: [server] }, to.container];
      }
    } catch (err) {
      return { ...unavailableDb(`database ${target.label}: ${describeError(err)}`, options.windowMs), via };
    }
  }
  let session: DbSession | null = null;
  let expired = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new DbError(`database ${target.label}: no complete answer within ${RUN_DEADLINE_MS / 1000}s`));
    }, RUN_DEADLINE_MS);
  });
  const work = (async () => {
    const opened = await openSession(target);
    if (expired) {
      // Arrived after the deadline: nobody is waiting for it any more.
      await opened.close();
      throw new DbError(`database ${target.label}: connected after the deadline`);
    }
    session = opened;
    return await scrapeAll(opened, target, options, () => expired);
  })();
  work.catch(() => undefined);
  try {
    return { ...(await Promise.race([work, deadline])), via };
  } catch (err) {
    const reason =
      err instanceof DbError
        ? err.message
        : `database ${target.label}: ${scrub(String((err as Error)?.message ?? err), target)}`;
    const down = { ...unavailableDb(reason, options.windowMs), database: target.database, via };
    // Regressions raised before stay as they are while the database cannot be asked.
    const kept = options.stateDir
      ? await readDbHistory(options.stateDir, target.label).catch(() => emptyHistory(target.label))
      : emptyHistory(target.label);
    return { ...down, regressionsUnjudged: reason, regressionsHeld: kept.raised };
  } finally {
    clearTimeout(timer);
    await (session as DbSession | null)?.close();
  }
}

async function scrapeAll(
  session: DbSession,
  target: DbTarget,
  options: DbOptions,
  expired: () => boolean,
): Promise<DbReport> {
  const nowMs = options.now.getTime();
  const history = options.stateDir
    ? await readDbHistory(options.stateDir, target.label).catch(() => emptyHistory(target.label))
    : emptyHistory(target.label);
  const report: DbReport = {
    ...unavailableDb('', options.windowMs),
    available: true,
    reason: null,
    database: target.database,
  };
  report.statements = { available: false, reason: null, window: formatWindow(options.windowMs), top: [] };
  const ctx = await session.transaction(async (pid, step) => {
    const ctx: ScrapeContext = {
      query: session.query,
      selfPid: pid,
      user: target.user,
      database: target.database,
      longSeconds: options.longMs / 1000,
      windowMs: options.windowMs,
      nowMs,
      serverVersion: 0,
      history,
      notes: [],
    };
    for (const collector of COLLECTORS) {
      if (expired())
        throw new DbError(`database ${target.label}: no complete answer within ${RUN_DEADLINE_MS / 1000}s`);
      try {
        await step(() => collector.scrape(ctx, report));
      } catch (err) {
        // A figure the role may not read (or a lock it waited for too long) is a note; a broken
        // connection ends the run.
        if (!(err instanceof DbError) || !err.sqlState) throw err;
        const hint = err.sqlState === '42501' ? ` (GRANT pg_monitor TO "${target.user}";)` : '';
        if (collector === statementsCollector) {
          report.statements = {
            ...report.statements,
            available: false,
            reason: `pg_stat_statements: ${err.reason}${hint}`,
          };
        } else ctx.notes.push(`${collector.name}: ${err.reason}${hint}`);
      }
    }
    return ctx;
  });
  report.notes = ctx.notes;
  const counters = ctx.statementCounters;
  let raised = history.raised;
  if (counters) {
    const verdict = judgeRegressions(
      history,
      counters,
      nowMs,
      ctx.statementEpoch,
      options.regression ?? DEFAULT_REGRESSION_RULES,
    );
    if (verdict.judged) {
      const texts = new Map(report.statements.top.map((s) => [s.queryid, s.query]));
      // The ones already raised keep their place among the five, so an alert does not flap out.
      const before = new Set(history.raised);
      const ordered = [...verdict.found].sort((a, b) => Number(before.has(b.queryid)) - Number(before.has(a.queryid)));
      report.regressions = ordered
        .slice(0, MAX_REGRESSIONS)
        .map((r) => ({ ...r, query: texts.get(r.queryid) ?? null }));
      report.regressionsNotRaised = Math.max(0, ordered.length - MAX_REGRESSIONS);
      report.regressionsUnjudged = null;
      raised = report.regressions.map((r) => r.queryid);
    } else {
      report.regressionsUnjudged = verdict.why;
      report.regressionsHeld = history.raised;
    }
  } else {
    report.regressionsUnjudged = report.statements.reason ?? 'pg_stat_statements not read';
    report.regressionsHeld = history.raised;
  }
  if (options.keep && options.stateDir && !expired()) {
    let kept: DbHistory = { ...history, raised, texts: ctx.statementTexts ?? history.texts };
    if (counters) kept = addSnapshot(kept, counters, nowMs, ctx.statementEpoch);
    if (report.sizeBytes !== null) kept = addSizeSample(kept, report.sizeBytes, nowMs);
    await writeDbHistory(options.stateDir, kept).catch((err: unknown) => {
      ctx.notes.push(`snapshot not kept: ${scrub(String((err as Error)?.message ?? err), target)}`);
    });
  }
  return report;
}
