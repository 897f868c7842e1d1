import { maskQuery, isHidden } from '../sql-text.js';
import {
  formatWindow,
  KEPT_TEXTS,
  windowBase,
  windowCounters,
  type Counters,
  type StatementEpoch,
} from '../history.js';
import type { TopStatement } from '../model.js';
import { atLeast, num, type Collector } from './collector.js';
import { hiddenNote } from './activity.js';
import { OWN_MARK } from '../connection.js';

const TOP = 20;
const TOP_BY_OTHER = 5;
/** Candidates whose text is fetched (ours among them are dropped before the top is chosen). */
const CANDIDATES = 60;

/** The extension version whose columns we read (total_exec_time came with 1.8). */
const NEEDED = '1.8';

/**
 * The top statements over --db-window, from pg_stat_statements' counters now less those of the snapshot
 * an alerts run kept at the window's start (every statement is kept, so one new in the window is there);
 * our own statements left out, other roles' hidden ones counted. Gated by the extension's version: older
 * than 1.8 (a server upgraded in place), the statements are unavailable with the one command that fixes
 * it. Counters are read without the query texts (the texts file is read once, for the chosen few).
 */
export const statementsCollector: Collector = {
  name: 'statements',
  series: [
    {
      name: 'mizual_db_statement_seconds_total',
      help: 'Execution time of a top statement since the statistics were reset (pg_stat_statements).',
      samples: (r) =>
        r.statements.top
          .slice(0, TOP)
          .map((s) => ({ value: s.sinceReset?.totalSeconds ?? null, labels: { queryid: s.queryid } })),
    },
    {
      name: 'mizual_db_statement_calls_total',
      help: 'Calls of a top statement since the statistics were reset (pg_stat_statements).',
      samples: (r) =>
        r.statements.top
          .slice(0, TOP)
          .map((s) => ({ value: s.sinceReset?.calls ?? null, labels: { queryid: s.queryid } })),
    },
  ],
  async scrape(ctx, report) {
    const window = formatWindow(ctx.windowMs);
    const unavailable = (reason: string) => {
      report.statements = { available: false, reason, window, top: [] };
    };
    // Qualified by the extension's own schema: the URL's search_path may not include it.
    const [installed] = await ctx.query<{ schema: string; version: string; newest: string | null }>(
      `SELECT quote_ident(n.nspname) AS schema, e.extversion AS version,
              (SELECT default_version FROM pg_available_extensions WHERE name = 'pg_stat_statements') AS newest
         FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements'`,
    );
    if (!installed) {
      unavailable(
        `pg_stat_statements is not installed in ${ctx.database}: set shared_preload_libraries = 'pg_stat_statements', restart, then CREATE EXTENSION pg_stat_statements;`,
      );
      return;
    }
    if (!atLeast(installed.version, NEEDED)) {
      unavailable(
        `pg_stat_statements ${installed.version} is older than this server's ${installed.newest ?? NEEDED}: ` +
          'ALTER EXTENSION pg_stat_statements UPDATE;',
      );
      return;
    }
    if (installed.newest && !atLeast(installed.version, installed.newest)) {
      ctx.notes.push(
        `pg_stat_statements ${installed.version} is older than this server's ${installed.newest}: ALTER EXTENSION pg_stat_statements UPDATE;`,
      );
    }
    const ext = installed.schema;
    // stats_reset and dealloc: pg_stat_statements_info, from Postgres 14 with extension 1.9.
    const epoch: StatementEpoch = { reset: null, dealloc: null };
    if (ctx.serverVersion >= 140000 && atLeast(installed.version, '1.9')) {
      const [info] = await ctx.query<{ reset: Date | null; dealloc: string | null }>(
        `SELECT stats_reset AS reset, dealloc FROM ${ext}.pg_stat_statements_info`,
      );
      epoch.reset = info?.reset instanceof Date ? info.reset.toISOString() : null;
      epoch.dealloc = num(info?.dealloc);
    }
    const rows = await ctx.query<Record<string, unknown>>(
      `SELECT queryid::text AS queryid, sum(calls) AS calls, sum(total_exec_time) AS total_ms, sum(rows) AS rows,
              count(*) AS n
         FROM ${ext}.pg_stat_statements(false)
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        GROUP BY queryid`,
    );
    const current = new Map<string, Counters>();
    let hidden = 0;
    for (const r of rows) {
      // Other roles' statements have no queryid for a role without pg_read_all_stats.
      if (r.queryid === null) {
        hidden += num(r.n) ?? 0;
        continue;
      }
      current.set(String(r.queryid), [num(r.calls) ?? 0, num(r.total_ms) ?? 0, num(r.rows) ?? 0]);
    }
    if (hidden > 0 && !ctx.notes.includes(hiddenNote(ctx.user))) ctx.notes.push(hiddenNote(ctx.user));
    const base = windowBase(ctx.history, ctx.nowMs, ctx.windowMs);
    const counters = base ? windowCounters(current, base, epoch) : current;
    const stats: TopStatement[] = [...counters].map(([queryid, [calls, totalMs, n]]) => ({
      queryid,
      query: '<hidden>',
      calls,
      totalSeconds: round(totalMs / 1000),
      meanSeconds: round(calls > 0 ? totalMs / 1000 / calls : 0),
      rows: n,
      sinceReset: {
        calls: current.get(queryid)?.[0] ?? 0,
        totalSeconds: round((current.get(queryid)?.[1] ?? 0) / 1000),
      },
    }));
    const by = (list: TopStatement[], key: 'totalSeconds' | 'calls' | 'meanSeconds' | 'rows', n: number) =>
      [...list].sort((a, b) => b[key] - a[key]).slice(0, n);
    const candidates = new Set([
      ...by(stats, 'totalSeconds', CANDIDATES),
      ...by(stats, 'calls', TOP_BY_OTHER * 2),
      ...by(stats, 'meanSeconds', TOP_BY_OTHER * 2),
      ...by(stats, 'rows', TOP_BY_OTHER * 2),
    ]);
    // Texts already read are kept: reading any text makes the server read the whole texts file.
    const texts = new Map<string, string | null>();
    const missing: string[] = [];
    for (const c of candidates) {
      const kept = ctx.history.texts[c.queryid];
      if (kept === undefined) missing.push(c.queryid);
      else texts.set(c.queryid, kept);
    }
    if (missing.length > 0) {
      const found = await ctx.query<{ queryid: string; query: string | null }>(
        `SELECT queryid::text AS queryid, min(query) AS query FROM ${ext}.pg_stat_statements(true)
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND queryid = ANY($1::bigint[])
          GROUP BY queryid`,
        [missing],
      );
      for (const f of found) texts.set(f.queryid, isHidden(f.query) ? null : maskQuery(f.query));
    }
    const ours = (id: string) => String(texts.get(id) ?? '').startsWith(OWN_MARK);
    const shown = [...candidates]
      .filter((c) => !ours(c.queryid))
      .map((c) => ({ ...c, query: texts.get(c.queryid) ?? '<hidden>' }));
    const keep: Record<string, string> = {};
    for (const [id, text] of [...texts, ...Object.entries(ctx.history.texts)]) {
      if (Object.keys(keep).length >= KEPT_TEXTS) break;
      if (text !== null && current.has(id) && keep[id] === undefined) keep[id] = text;
    }
    ctx.statementTexts = keep;
    // Our own statements stay out of the snapshot too (they are the same every run).
    for (const id of texts.keys()) if (ours(id)) current.delete(id);
    ctx.statementCounters = current;
    ctx.statementEpoch = epoch;
    const chosen = new Set([
      ...by(shown, 'totalSeconds', TOP),
      ...by(shown, 'calls', TOP_BY_OTHER),
      ...by(shown, 'meanSeconds', TOP_BY_OTHER),
      ...by(shown, 'rows', TOP_BY_OTHER),
    ]);
    const resetSinceBase = base !== null && base.reset !== epoch.reset;
    report.statements = {
      available: true,
      reason: base
        ? resetSinceBase
          ? `the statistics were reset at ${epoch.reset}: figures since then`
          : null
        : 'no snapshot kept yet (mizual-alerts keeps them on each run): figures since the statistics were last reset',
      window: base
        ? resetSinceBase && epoch.reset
          ? formatWindow(ctx.nowMs - Date.parse(epoch.reset))
          : formatWindow(ctx.nowMs - base.at)
        : 'since reset',
      top: [...chosen].sort((a, b) => b.totalSeconds - a.totalSeconds),
      hidden,
    };
  },
};

const round = (n: number): number => Math.round(n * 1e6) / 1e6;
