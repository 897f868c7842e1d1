// What one check saw in a run, before the alert state is applied: the one shape every check returns,
// whether it lives with mizual-alerts (src/alerts) or in a shared service (src/app, src/db).

/** What one check saw this run, before state is applied. */
export interface Observation {
  check: string;
  /** The status this check raises when failing. */
  severity: 'warning' | 'critical';
  value: number | string | null;
  threshold: number | string | null;
  /** Describes the current situation; used for the log line (WARNING/CRITICAL and RESOLVED alike). */
  message: string;
  /** Threshold checks: fail above `threshold`, clear below `clearLevel(threshold)`. */
  measure?: { value: number; threshold: number };
  /** Condition checks (containers, health URL, shipping): failing or not. */
  failing?: boolean;
  /** Raise only after this many consecutive failing runs (`--cpu-for`). */
  forRuns?: number;
  /** Raise only once it has been failing for this long (a shipper that has never uploaded yet). */
  forMs?: number;
  /** Could not be evaluated: status unknown, the previous record is kept. */
  unknown?: boolean;
  /** Not evaluated this run on purpose (no CPU baseline yet, shipper not installed): shown as ok, record kept. */
  skipped?: boolean;
  note?: string;
  /** Further figures for `--json` (a response time, a fitted rate, a fill date). */
  data?: Record<string, number | string | boolean | null>;
}
