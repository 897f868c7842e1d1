import { maskQuery, isHidden } from '../sql-text.js';
import { formatWindow, windowBase, windowCounters, type Counters } from '../history.js';
import type { TopStatement } from '../model.js';
import { num, type Collector } from './collector.js';
import { hiddenNote } from './activity.js';
import { OWN_MARK } from '../connection.js';

const TOP = 20;
const TOP_BY_OTHER = 5;
const MAX_STATEMENTS = 5_000;

/**
 * The top statements over --db-window, from pg_stat_statements' counters now less those of the
 * snapshot an alerts run kept at the window's start; our own statements left out.
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
    // Qualified by the extension's own schema: the URL's search_path may not include it.
    const installed = await ctx.query<{ schema: string }>(
      `SELECT quote_ident(n.nspname) AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements'`,
    );
    if (installed.length === 0) {
      report.statements = {
        available: false,
        reason: `pg_stat_statements is not installed in ${ctx.database}: set shared_preload_libraries = 'pg_stat_statements', restart, then CREATE EXTENSION pg_stat_statements;`,
        window,
        top: [],
      };
      return;
    }
    const rows = await ctx.query<Record<string, unknown>>(
      `SELECT queryid::text AS queryid, min(query) AS query, sum(calls) AS calls,
              sum(total_exec_time) AS total_ms, sum(rows) AS rows
         FROM ${installed[0]?.schema}.pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND queryid IS NOT NULL AND query NOT LIKE $1
        GROUP BY queryid ORDER BY total_ms DESC LIMIT ${MAX_STATEMENTS}`,
      [`${OWN_MARK}%`],
    );
    const current = new Map<string, Counters>();
    const texts = new Map<string, string | null>();
    let hidden = 0;
    for (const r of rows) {
      const id = String(r.queryid);
      current.set(id, [num(r.calls) ?? 0, num(r.total_ms) ?? 0, num(r.rows) ?? 0]);
      if (isHidden(r.query)) hidden++;
      texts.set(id, isHidden(r.query) ? null : maskQuery((r.query as string | null) ?? null));
    }
    if (hidden > 0 && !ctx.notes.includes(hiddenNote(ctx.user))) ctx.notes.push(hiddenNote(ctx.user));
    ctx.statementCounters = current;
    const base = windowBase(ctx.history, ctx.nowMs, ctx.windowMs);
    const counters = base ? windowCounters(current, base) : current;
    const stats: TopStatement[] = [...counters].map(([queryid, [calls, totalMs, n]]) => ({
      queryid,
      query: texts.get(queryid) ?? '<hidden>',
      calls,
      totalSeconds: round(totalMs / 1000),
      meanSeconds: round(calls > 0 ? totalMs / 1000 / calls : 0),
      rows: n,
      sinceReset: {
        calls: current.get(queryid)?.[0] ?? 0,
        totalSeconds: round((current.get(queryid)?.[1] ?? 0) / 1000),
      },
    }));
    const by = (key: 'totalSeconds' | 'calls' | 'meanSeconds' | 'rows', n: number) =>
      [...stats].sort((a, b) => b[key] - a[key]).slice(0, n);
    const chosen = new Set([
      ...by('totalSeconds', TOP),
      ...by('calls', TOP_BY_OTHER),
      ...by('meanSeconds', TOP_BY_OTHER),
      ...by('rows', TOP_BY_OTHER),
    ]);
    report.statements = {
      available: true,
      reason: base
        ? null
        : 'no snapshot kept yet (mizual-alerts keeps them on each run): figures since the statistics were last reset',
      window: base ? formatWindow(ctx.nowMs - base.at) : 'since reset',
      top: [...chosen].sort((a, b) => b.totalSeconds - a.totalSeconds),
    };
  },
};

const round = (n: number): number => Math.round(n * 1e6) / 1e6;
