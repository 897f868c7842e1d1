/** The database's part of the dashboard: a few lines, or with --db the whole PgHero-like report. */
import type { ChalkInstance } from 'chalk';
import type { DbReport, IndexAdvice } from '../db/model.js';
import { createPainter, paintLevel, renderTable } from '../core/paint.js';
import { formatBytes } from '../core/units.js';

const secs = (s: number): string =>
  s >= 3600
    ? `${(s / 3600).toFixed(1)}h`
    : s >= 60
      ? `${(s / 60).toFixed(1)}m`
      : s >= 1
        ? `${s.toFixed(1)}s`
        : `${(s * 1000).toFixed(1)}ms`;
const growth = (b: number | null): string =>
  b === null ? 'growth unknown yet' : `${b < 0 ? '-' : '+'}${formatBytes(Math.abs(b))}/day`;
const cut = (q: string | null, n: number): string =>
  q === null ? '<hidden>' : q.length > n ? `${q.slice(0, n - 1)}…` : q;

function connectionsLine(db: DbReport, paint: ChalkInstance, connectionsPercent: number): string {
  const c = db.connections;
  if (!c) return 'connections: unknown';
  const usable = Math.max(1, c.max - c.reserved);
  const share = (c.total / usable) * 100;
  const level = share >= connectionsPercent ? 'warning' : 'ok';
  const s = c.byState;
  return (
    `connections ${paintLevel(paint, level, `${c.total}/${usable}`)} (${s.active} active, ${s.idle} idle, ` +
    `${s['idle in transaction']} idle in transaction, ${s.waiting} waiting` +
    `${c.partial ? "; other roles' states hidden" : ''})`
  );
}

/** The dashboard's short "database" section. */
export function renderDbSection(db: DbReport, color: boolean, connectionsPercent = 80): string {
  const paint = createPainter(color);
  const head = paint.bold('database') + (db.database ? ` ${db.database}` : '');
  // The reason already names host and database.
  if (!db.available) return `${paint.bold('database')}: ${paint.red(db.reason ?? 'not available')}`;
  const lines = [
    `${head}  Postgres ${db.server?.version.split(' ')[0] ?? '?'}  ${connectionsLine(db, paint, connectionsPercent)}`,
  ];
  const long = db.longQueries.filter((q) => q.state === 'active').length;
  const idleTx = db.longQueries.length - long;
  const problems = `long queries ${long}, idle in transaction ${idleTx}, blocked ${db.blocked.length}`;
  lines.push(`  ${long + idleTx + db.blocked.length > 0 ? paint.yellow(problems) : problems}`);
  lines.push(`  size ${db.sizeBytes === null ? '?' : formatBytes(db.sizeBytes)} (${growth(db.growthBytesPerDay)})`);
  if (db.statements.available) {
    lines.push(`  top statements (${db.statements.window}):`);
    for (const s of db.statements.top.slice(0, 3)) {
      lines.push(`    ${secs(s.totalSeconds).padStart(7)} ${String(s.calls).padStart(7)} calls  ${cut(s.query, 60)}`);
    }
  } else lines.push(`  statements: ${db.statements.reason ?? 'not available'}`);
  const advice = adviceCounts(db);
  if (advice) lines.push(`  ${paint.yellow(advice)} (mizual-metrics --db)`);
  for (const note of db.notes ?? []) lines.push(paint.gray(`  ${note}`));
  return lines.join('\n');
}

/** One line counting what --db advises on (indexes, slots holding WAL), or null when nothing. */
function adviceCounts(db: DbReport): string | null {
  const i = db.indexes;
  const parts = [
    i && i.missing.length > 0 ? `${i.missing.length} table(s) missing an index` : '',
    i && i.unused.length > 0 ? `${i.unused.length} unused index(es)` : '',
    i && i.duplicate.length > 0 ? `${i.duplicate.length} duplicate index(es)` : '',
    i && i.invalid.length > 0 ? `${i.invalid.length} invalid index(es)` : '',
    (db.slots ?? []).some((s) => !s.active)
      ? `${(db.slots ?? []).filter((s) => !s.active).length} inactive slot(s)`
      : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : null;
}

/** `mizual-metrics --db`: the whole report. */
export function renderDbReport(db: DbReport, color: boolean, connectionsPercent = 80): string {
  const paint = createPainter(color);
  const lines: string[] = [];
  const title = (t: string) => lines.push('', paint.bold(t));
  if (!db.available) return `${paint.bold('database')}: ${paint.red(db.reason ?? 'not available')}`;
  lines.push(
    `${paint.bold('database')} ${db.database ?? ''}  Postgres ${db.server?.version ?? '?'}`,
    connectionsLine(db, paint, connectionsPercent),
    `oldest transaction ${db.oldestTransactionSeconds === null ? 'none' : secs(db.oldestTransactionSeconds)}`,
    `size ${db.sizeBytes === null ? '?' : formatBytes(db.sizeBytes)} (${growth(db.growthBytesPerDay)})` +
      `   cache hit ${db.cacheHitRatio === null ? '?' : `${(db.cacheHitRatio * 100).toFixed(2)}%`}` +
      `   deadlocks ${db.deadlocks ?? '?'}   temp ${db.tempBytes === null ? '?' : formatBytes(db.tempBytes)}`,
  );
  if (db.wraparound) {
    const p = db.wraparound.percent;
    const level = p >= 75 ? 'critical' : p >= 50 ? 'warning' : 'ok';
    lines.push(
      `transaction id age ${db.wraparound.ageXids} (${paintLevel(paint, level, `${p}%`)} of wraparound)` +
        (db.wraparound.multixactAge === undefined || db.wraparound.multixactAge === null
          ? ''
          : `   multixact age ${db.wraparound.multixactAge}`) +
        (db.wraparound.tables?.[0]
          ? `   oldest table ${db.wraparound.tables[0].schema}.${db.wraparound.tables[0].table} (${db.wraparound.tables[0].ageXids})`
          : ''),
    );
  }
  if ((db.connections?.byApplication ?? []).length > 0) {
    title('connections by application');
    lines.push(
      renderTable(
        ['application', 'user', 'client', 'sessions'],
        (db.connections?.byApplication ?? []).map((a) => [
          a.application ?? '-',
          a.user ?? '-',
          a.client ?? 'local',
          String(a.count),
        ]),
        color,
      ),
    );
  }
  title('long queries and sessions idle in a transaction');
  if (db.longQueries.length === 0) lines.push('none');
  else {
    lines.push(
      renderTable(
        ['pid', 'user', 'application', 'state', 'for', 'query'],
        db.longQueries.map((q) => [
          String(q.pid),
          q.user ?? '-',
          q.application ?? '-',
          q.state,
          secs(q.seconds),
          cut(q.query, 60),
        ]),
        color,
      ),
    );
  }
  title('blocked sessions');
  if (db.blocked.length === 0) lines.push('none');
  else {
    lines.push(
      renderTable(
        ['pid', 'blocked by', 'waiting', 'query'],
        db.blocked.map((b) => [String(b.pid), b.blockedBy.join(','), secs(b.seconds), cut(b.query, 60)]),
        color,
      ),
    );
  }
  title(`statements over ${db.statements.window}`);
  if (!db.statements.available) lines.push(db.statements.reason ?? 'not available');
  else {
    if (db.statements.reason) lines.push(paint.gray(db.statements.reason));
    if (db.statements.hidden) lines.push(paint.gray(`${db.statements.hidden} statements of other roles hidden`));
    const table = (key: 'totalSeconds' | 'calls' | 'meanSeconds' | 'rows', name: string) => {
      lines.push(`by ${name}:`);
      const top = [...db.statements.top].sort((a, b) => b[key] - a[key]).slice(0, 5);
      lines.push(
        renderTable(
          ['queryid', 'total', 'calls', 'mean', 'rows', 'query'],
          top.map((s) => [
            s.queryid,
            secs(s.totalSeconds),
            String(s.calls),
            secs(s.meanSeconds),
            String(s.rows),
            cut(s.query, 50),
          ]),
          color,
        ),
      );
    };
    table('totalSeconds', 'total time');
    table('calls', 'calls');
    table('meanSeconds', 'mean time');
    table('rows', 'rows');
  }
  if ((db.regressions ?? []).length > 0) {
    title('slower than the day before');
    if (db.regressionsNotRaised) lines.push(paint.gray(`and ${db.regressionsNotRaised} more not raised`));
    for (const r of db.regressions ?? []) {
      lines.push(
        paint.yellow(
          `${r.queryid}: mean ${secs(r.recentMeanSeconds)} over the last hour, ${secs(r.baselineMeanSeconds)} the 24h before  ${cut(r.query, 50)}`,
        ),
      );
    }
  }
  title('schemas');
  lines.push(
    renderTable(
      ['schema', 'size'],
      db.schemas.map((s) => [s.schema, formatBytes(s.sizeBytes)]),
      color,
    ),
  );
  title('largest tables');
  lines.push(
    renderTable(
      ['table', 'size', 'dead', 'last vacuum', 'last analyze'],
      db.tables.map((t) => [
        `${t.schema}.${t.table}`,
        formatBytes(t.sizeBytes),
        t.deadTupleRatio === null
          ? '-'
          : paintLevel(paint, t.deadTupleRatio >= 0.2 ? 'warning' : 'ok', `${(t.deadTupleRatio * 100).toFixed(1)}%`),
        t.lastVacuum?.replace(/\.\d+Z$/, 'Z') ?? paint.yellow('never'),
        t.lastAnalyze?.replace(/\.\d+Z$/, 'Z') ?? paint.yellow('never'),
      ]),
      color,
    ),
  );
  title('sequences past half their range');
  if (db.sequences.length === 0) lines.push('none');
  for (const s of db.sequences)
    lines.push(
      `${s.name} ${paintLevel(paint, s.percent >= 90 ? 'critical' : s.percent >= 75 ? 'warning' : 'ok', `${s.percent}%`)}` +
        (s.table && s.column ? ` of ${s.table}.${s.column}'s range` : ''),
    );
  const i = db.indexes;
  if (i) {
    const list = (name: string, rows: IndexAdvice[], head: string[], row: (a: IndexAdvice) => string[]) => {
      title(name);
      if (rows.length === 0) lines.push('none');
      else lines.push(renderTable(head, rows.map(row), color));
    };
    list(
      'tables read mostly by sequential scans (an index may be missing)',
      i.missing,
      ['table', 'rows', 'seq scans', 'size'],
      (a) => [`${a.schema}.${a.table}`, String(a.rows ?? '-'), `${a.seqScanPercent ?? '?'}%`, formatBytes(a.sizeBytes)],
    );
    list('unused indexes (never scanned since the statistics reset)', i.unused, ['index', 'table', 'size'], (a) => [
      a.index ?? '-',
      `${a.schema}.${a.table}`,
      formatBytes(a.sizeBytes),
    ]);
    list('duplicate indexes', i.duplicate, ['index', 'covered by', 'table', 'size'], (a) => [
      a.index ?? '-',
      a.coveredBy ?? '-',
      `${a.schema}.${a.table}`,
      formatBytes(a.sizeBytes),
    ]);
    list(
      'invalid indexes (a failed CREATE INDEX CONCURRENTLY: drop and rebuild)',
      i.invalid,
      ['index', 'table', 'size'],
      (a) => [a.index ?? '-', `${a.schema}.${a.table}`, formatBytes(a.sizeBytes)],
    );
  }
  if (db.slots) {
    title('replication slots');
    if (db.slots.length === 0) lines.push('none');
    else
      lines.push(
        renderTable(
          ['slot', 'type', 'active', 'WAL held'],
          db.slots.map((s) => [
            s.name,
            s.type,
            s.active ? 'yes' : paint.yellow('no'),
            s.retainedBytes === null ? '-' : formatBytes(s.retainedBytes),
          ]),
          color,
        ),
      );
  }
  if ((db.notes ?? []).length > 0) {
    title('not visible to this role');
    for (const note of db.notes ?? []) lines.push(note);
  }
  return lines.join('\n');
}
