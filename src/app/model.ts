// The application figures of `mizual-metrics --json` (`app`), as ../shared/CONTRACT.md names them.
// One home for the shape: the log readers, the probes, the broker, the renderers, the alerts and the
// history all import it from here.

/** Seconds; `null` when the format carries no duration. */
export interface HttpDuration {
  p50: number;
  p95: number;
  p99: number;
  /** From logs the longest seen; from a histogram the upper bound of the highest bucket reached (null: +Inf). */
  max: number | null;
}

export interface RouteFigure {
  method: string;
  /** The path with ids, UUIDs and hex hashes collapsed to `:id`, or `other` past the 20 kept. */
  route: string;
  requests: number;
  errors: number;
  p95: number | null;
  /** From an app's histogram (MIZUAL_APP_METRICS). */
  p50?: number | null;
  p99?: number | null;
}

export interface HttpFigure {
  /** Read from the container's log lines, or from the app's own Prometheus endpoint (MIZUAL_APP_METRICS). */
  source: 'logs' | 'metrics';
  container: string;
  requests: number;
  status: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  /** The 5xx share of requests, 0–1. */
  errorRate: number;
  duration: HttpDuration | null;
  routes: RouteFigure[];
  /** MIZUAL_APP_METRICS only: the entry's name, its URL (no credentials or query). */
  name?: string;
  url?: string;
  /** MIZUAL_APP_METRICS only: the span really covered (from the reading kept a window ago). */
  since?: string;
  seconds?: number;
  /** Log lines read of the container in the window, and of them those no format or rule recognised. */
  linesRead?: number;
  linesUnrecognised?: number;
}

export interface TaskFigure {
  container: string;
  task: string;
  succeeded: number;
  failed: number;
  retried: number;
  /** `raised expected`: exceptions the task declares (`throws=`), not failures. */
  expected?: number;
  duration: { p50: number; p95: number; max: number } | null;
}

/** One container's log as read in the window: what was read, what was not recognised. */
export interface SourceFigure {
  container: string;
  linesRead: number;
  linesUnrecognised: number;
  /** When it last wrote a line (ISO, to the second), as far as the kept state knows; null when not in it. */
  lastLineAt: string | null;
  /** A Celery worker (its command or its lines say so). */
  worker?: boolean;
}

export interface RuleFigure {
  name: string;
  container: string;
  label: string | null;
  count: number;
  duration: { p50: number; p95: number; max: number } | null;
}

export interface QueueFigure {
  queue: string;
  /** Messages waiting (every priority list summed); null when the broker did not answer. */
  length: number | null;
}

export interface ProbeFigure {
  name: string;
  /** Without credentials or query string. */
  url: string;
  up: boolean;
  status: number | null;
  seconds: number | null;
  ttfbSeconds: number | null;
  certDaysLeft: number | null;
  p95HourSeconds: number | null;
  uptimeDayPercent: number | null;
  /** Redirects followed to the final answer (at most 5). */
  redirects: number;
  /** Failed runs in a row, this one included (from the probe history mizual-alerts keeps). */
  failedRuns: number;
  /** DOWN: failed MIZUAL_PROBE_RETRIES runs in a row. */
  down: boolean;
  /** Why it is down (one line, no secret), when it is. */
  error?: string;
}

export interface AppReport {
  window: { since: string; until: string; seconds: number };
  http: HttpFigure[];
  tasks: TaskFigure[];
  rules: RuleFigure[];
  queues: QueueFigure[];
  probes: ProbeFigure[];
  /** One line each: a malformed rule, an unreachable broker, a container whose log could not be read. */
  problems: string[];
  /** Every container whose log was read: lines read and unrecognised in the window, its last line. */
  sources?: SourceFigure[];
}
