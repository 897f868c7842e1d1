// The database figures of `mizual-metrics --json` (`db`), as ../shared/CONTRACT.md names them.
// One home for the shape: the collectors, the renderers, the alerts and the history import it from here.

export interface DbConnections {
  /** Every backend connected to a database (pg_stat_database.numbackends), whatever its role; ours left out. */
  total: number;
  max: number;
  reserved: number;
  byState: { active: number; idle: number; 'idle in transaction': number; waiting: number };
  /** True when the per-state split cannot see other roles' sessions (no pg_read_all_stats). */
  partial?: boolean;
  /** Client sessions by application_name, user and client address (null when hidden or local), most first. */
  byApplication?: { application: string | null; user: string | null; client: string | null; count: number }[];
}

/** An index worth a look (PgHero's advice): none of these raises an alert. */
export interface IndexAdvice {
  schema: string;
  table: string;
  /** The index (absent for a missing one). */
  index?: string;
  /** The index's size (for a missing index: the table's). */
  sizeBytes: number;
  /** A duplicate: the index whose leading columns already cover it. */
  coveredBy?: string;
  /** A missing index: share of the table's reads that were sequential scans (0-100). */
  seqScanPercent?: number;
  rows?: number;
}

export interface LongQuery {
  pid: number;
  user: string | null;
  application: string | null;
  /** `active` or `idle in transaction` (and the other pg_stat_activity states). */
  state: string;
  seconds: number;
  /** The first 200 characters, literals replaced by `?`. */
  query: string | null;
}

export interface BlockedSession {
  pid: number;
  blockedBy: number[];
  seconds: number;
  query: string | null;
}

export interface TopStatement {
  queryid: string;
  query: string;
  calls: number;
  totalSeconds: number;
  meanSeconds: number;
  rows: number;
  /** Cumulative since pg_stat_statements was last reset (the Prometheus counters). */
  sinceReset?: { calls: number; totalSeconds: number };
}

/** A statement whose mean time over the last hour is at least twice its mean over the 24 hours before. */
export interface StatementRegression {
  queryid: string;
  query: string | null;
  recentMeanSeconds: number;
  baselineMeanSeconds: number;
  recentCalls: number;
  baselineCalls: number;
}

export interface DbReport {
  available: boolean;
  /** Why figures are missing (no password in it). */
  reason: string | null;
  server: { version: string } | null;
  connections: DbConnections | null;
  oldestTransactionSeconds: number | null;
  longQueries: LongQuery[];
  blocked: BlockedSession[];
  statements: {
    available: boolean;
    reason: string | null;
    window: string;
    top: TopStatement[];
    /** Statements of other roles this role may not see (a NULL queryid), counted not dropped. */
    hidden?: number;
  };
  sizeBytes: number | null;
  growthBytesPerDay: number | null;
  schemas: { schema: string; sizeBytes: number }[];
  tables: {
    schema: string;
    table: string;
    sizeBytes: number;
    deadTupleRatio: number | null;
    lastVacuum: string | null;
    lastAnalyze: string | null;
  }[];
  cacheHitRatio: number | null;
  deadlocks: number | null;
  tempBytes: number | null;
  wraparound: {
    ageXids: number;
    percent: number;
    /** The tables of this database with the oldest relfrozenxid. */
    tables?: { schema: string; table: string; ageXids: number }[];
    /** The oldest multixact id's age across the server's databases (wraparound at 2^31 too). */
    multixactAge?: number | null;
  } | null;
  /** Sequences against the range of the column they feed (`table` is schema.table, null when they feed none). */
  sequences: { name: string; table?: string | null; column?: string | null; percent: number }[];
  indexes?: { missing: IndexAdvice[]; unused: IndexAdvice[]; duplicate: IndexAdvice[]; invalid: IndexAdvice[] };
  /** Replication slots and the WAL each holds back on the server. */
  slots?: { name: string; type: string; active: boolean; retainedBytes: number | null }[];
  /** The database connected to (never the user or password). */
  database?: string | null;
  /** What the role may not see, one line each with the command that enables it. */
  notes?: string[];
  /** Regressions found against the snapshots mizual-alerts keeps ([] before a day of them), at most 5. */
  regressions?: StatementRegression[];
  /** Regressions found beyond the ones raised. */
  regressionsNotRaised?: number;
  /**
   * Why no verdict on regressions could be given this run (database down, statistics reset within the
   * day): the regressions raised before stay as they are. Null when judged.
   */
  regressionsUnjudged?: string | null;
  /** The queryids raised as regressions by the last judged run (kept while unjudged). */
  regressionsHeld?: string[];
  /** The container the URL's host was reached through (a Compose service name), when it was. */
  via?: string | null;
}
