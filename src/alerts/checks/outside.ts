/**
 * The alert checks on what is asked from outside the app: `probe:<name>`, `cert:<name>` and
 * `queue:<queue>`. They run alongside the host and container checks, so the probes add no more
 * than the slowest probe's time to a run.
 */
import type { Observation } from '../state.js';
import { DEFAULT_QUEUE_BACKLOG, queueChecks } from '../../app/broker/broker.js';
import { collectOutside, type OutsideFigures, type OutsideOptions } from '../../app/outside.js';
import { DEFAULT_CERT_DAYS, DEFAULT_PROBE_SLOW_MS, probeChecks } from '../../app/probes/probes.js';

export interface OutsideLimits {
  /** `--probe-slow`: WARNING above it (ms). */
  probeSlowMs: number;
  /** `--cert-days`: WARNING within it (CRITICAL within 3). */
  certDays: number;
  /** `--queue-backlog`: WARNING at this many waiting messages. */
  queueBacklog: number;
}

export const DEFAULT_OUTSIDE_LIMITS: OutsideLimits = {
  probeSlowMs: DEFAULT_PROBE_SLOW_MS,
  certDays: DEFAULT_CERT_DAYS,
  queueBacklog: DEFAULT_QUEUE_BACKLOG,
};

/** Start the probes and the broker query now; throws at once (usage) for a malformed MIZUAL_PROBES. */
export function startOutsideChecks(
  options: OutsideOptions & { limits: OutsideLimits },
): Promise<{ observations: Observation[]; problems: string[]; figures: OutsideFigures }> {
  return collectOutside(options).then((figures) => {
    return {
      observations: [
        ...probeChecks(figures.probes, { slowMs: options.limits.probeSlowMs, certDays: options.limits.certDays }),
        ...queueChecks(figures.queues, figures.brokerProblem, options.limits.queueBacklog),
      ],
      problems: figures.problems,
      figures,
    };
  });
}
