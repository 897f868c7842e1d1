/**
 * The application figures asked from outside the app (its probes and its broker), both at once, from
 * the settings: what mizual-metrics shows and mizual-alerts checks next to the figures from the logs.
 */
import { collectQueues, parseBrokerUrl, parseQueues } from './broker/broker.js';
import type { AppReport, ProbeFigure, QueueFigure } from './model.js';
import { collectProbes, parseProbeRetries, parseProbes, PROBE_TIMEOUT_MS } from './probes/probes.js';
import { overridableUrl, type Config } from '../core/config.js';
import type { DialFn } from '../docker/compose-hosts.js';
import { describeError } from '../core/errors.js';
import type { Snapshot } from '../docker/snapshot.js';

export interface OutsideFigures {
  probes: ProbeFigure[];
  queues: QueueFigure[];
  /** One line each (no secret): an unreachable or unsupported broker, a probe history not written. */
  problems: string[];
  /** The broker's line among them, when it is the broker that did not answer. */
  brokerProblem: string | null;
  /** The probe that is MIZUAL_HEALTH_URL (checked as `health`), when it is set. */
  healthProbe: string | null;
}

export interface OutsideOptions {
  config: Pick<Config, 'lookup' | 'healthUrl' | 'stateDir' | 'dockerHost' | 'containers'> &
    Partial<Pick<Config, 'isSet'>>;
  /** Where to connect for a URL's host (Compose names: src/docker/compose-hosts.ts). */
  dial?: DialFn;
  /** Per probe unless its own `timeout=` says otherwise; the same 10 s for the dashboard and the alerts. */
  probeTimeoutMs?: number;
  /** mizual-alerts records the probe history (not with --dry-run); mizual-metrics only reads it. */
  record?: boolean;
  now?: Date;
  /** This run's look at the engine (the broker's container is found in its list). */
  snapshot?: Promise<Snapshot>;
}

/**
 * Probe and ask the broker concurrently. Not async on purpose: a bad MIZUAL_PROBES throws its usage
 * error here, before any work starts; the promise itself never rejects (a broker problem is one line).
 */
export function collectOutside(options: OutsideOptions): Promise<OutsideFigures> {
  const { config } = options;
  const specs = parseProbes(config.lookup('MIZUAL_PROBES'), config.healthUrl);
  const retries = parseProbeRetries(config.lookup('MIZUAL_PROBE_RETRIES'));
  const healthProbe = specs.find((s) => s.health)?.name ?? null;
  // MIZUAL_CELERY_BROKER_URL=off (or empty) turns the queues off: no connection is attempted.
  const broker = overridableUrl(config, 'MIZUAL_CELERY_BROKER_URL', 'CELERY_BROKER_URL');
  const brokerUrl = broker?.url;
  const queueNames = brokerUrl ? parseQueues(config.lookup('MIZUAL_CELERY_QUEUES')) : [];
  const problems: string[] = [];
  let brokerProblem: string | null = null;
  const queues = (async (): Promise<QueueFigure[]> => {
    if (!brokerUrl) return [];
    try {
      parseBrokerUrl(brokerUrl, broker?.variable);
    } catch (err) {
      // The app's own setting, not ours: an unsupported broker leaves the rest of the figures alone.
      brokerProblem = describeError(err);
      problems.push(brokerProblem);
      return queueNames.map((queue) => ({ queue, length: null }));
    }
    const got = await collectQueues({
      brokerUrl,
      queues: queueNames,
      dockerHost: config.dockerHost,
      snapshot: options.snapshot,
      watched: config.containers.map((c) => c.name),
      dial: options.dial,
    });
    brokerProblem = got.problem;
    if (got.problem) problems.push(got.problem);
    return got.queues;
  })();
  const probes = collectProbes({
    probes: specs,
    stateDir: config.stateDir,
    timeoutMs: options.probeTimeoutMs ?? PROBE_TIMEOUT_MS,
    retries,
    record: options.record,
    now: options.now,
    problems,
    dial: options.dial,
  });
  return Promise.all([probes, queues]).then(([p, q]) => ({
    probes: p,
    queues: q,
    problems,
    brokerProblem,
    healthProbe,
  }));
}

/**
 * An `app` report holding only these figures (the log-derived arrays empty): what the tools show
 * until the figures from the logs are joined to it.
 */
export function outsideAppReport(figures: OutsideFigures, nowMs: number, windowMs = 300_000): AppReport {
  return {
    window: {
      since: new Date(nowMs - windowMs).toISOString(),
      until: new Date(nowMs).toISOString(),
      seconds: windowMs / 1000,
    },
    http: [],
    tasks: [],
    rules: [],
    queues: figures.queues,
    probes: figures.probes,
    problems: figures.problems,
  };
}
