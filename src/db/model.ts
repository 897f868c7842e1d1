// The database figures of `mizual-metrics --json` (`db`), as ../shared/CONTRACT.md names them.
// One home for the shape: the collectors, the renderers, the alerts and the history import it from here.

export interface DbConnections {
  total: number;
  max: number;
  reserved: number;
  byState: { active: number; idle: number; 'idle in transaction': number; waiting: number };
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
  statements: { available: boolean; reason: string | null; window: string; top: TopStatement[] };
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
  wraparound: { ageXids: number; percent: number } | null;
  sequences: { name: string; percent: number }[];
  /** The database connected to (never the user or password). */
  database?: string | null;
  /** What the role may not see, one line each with the command that enables it. */
  notes?: string[];
  /** Regressions found against the snapshots mizual-alerts keeps ([] before a day of them). */
  regressions?: StatementRegression[];
  /** The container the URL's host was reached through (a Compose service name), when it was. */
  via?: string | null;
}
