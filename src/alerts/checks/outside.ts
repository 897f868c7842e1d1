/**
 * The alert checks on what is asked from outside the app: `probe:<name>`, `cert:<name>`,
 * `queue:<queue>`, and `health` (MIZUAL_HEALTH_URL, asked once as the probe `health`). They run
 * alongside the host and container checks, so the probes add no more than the slowest probe's time
 * to a run.
 */
import { defineCheck, shareOnce } from '../check.js';

/** The key of this run's probes and broker figures, for the checks that read them too (celery:stalled). */
export const OUTSIDE_READ = 'outside';
import type { Observation } from '../state.js';
import { DEFAULT_QUEUE_BACKLOG, parseQueues, queueChecks } from '../../app/broker/broker.js';
import { collectOutside, type OutsideFigures, type OutsideOptions } from '../../app/outside.js';
import {
  DEFAULT_CERT_DAYS,
  DEFAULT_PROBE_SLOW_MS,
  parseProbeRetries,
  parseProbes,
  probeChecks,
} from '../../app/probes/probes.js';
import { parseDuration, parsePositiveInt, parsePositiveNumber } from '../../core/units.js';

export interface OutsideLimits {
  /** `--probe-slow`: WARNING above it (ms). */
  probeSlowMs: number;
  /** `--cert-days`: WARNING within it (CRITICAL within 3). */
  certDays: number;
  /** `--queue-backlog`: WARNING at this many waiting messages. */
  queueBacklog: number;
  /** `--health-slow`: the `health` check WARNING above it (ms). */
  healthSlowMs: number;
}

/** Start the probes and the broker query now; throws at once (usage) for a malformed MIZUAL_PROBES. */
export function startOutsideChecks(
  options: OutsideOptions & { limits: OutsideLimits },
): Promise<{ observations: Observation[]; problems: string[]; figures: OutsideFigures }> {
  return collectOutside(options).then((figures) => {
    return {
      observations: [
        ...probeChecks(figures.probes, {
          slowMs: options.limits.probeSlowMs,
          certDays: options.limits.certDays,
          health: figures.healthProbe ? { name: figures.healthProbe, slowMs: options.limits.healthSlowMs } : null,
        }),
        ...queueChecks(figures.queues, figures.brokerProblem, options.limits.queueBacklog),
      ],
      problems: figures.problems,
      figures,
    };
  });
}

/** `probe:<name>`, `cert:<name>` and `queue:<queue>`: the probes and the broker, asked alongside the rest. */
export const outsideCheck = defineCheck<OutsideLimits>({
  name: 'outside',
  group: 'Probe checks:',
  flags: {
    probeSlowMs: {
      flag: '--probe-slow <duration>',
      help: 'a probe of MIZUAL_PROBES slower than this',
      default: `${DEFAULT_PROBE_SLOW_MS / 1000}s`,
      parse: parseDuration,
    },
    certDays: {
      flag: '--cert-days <days>',
      help: 'a probed certificate expiring within days',
      default: String(DEFAULT_CERT_DAYS),
      parse: parsePositiveNumber,
    },
    queueBacklog: {
      flag: '--queue-backlog <count>',
      help: 'messages waiting in a Celery queue',
      default: String(DEFAULT_QUEUE_BACKLOG),
      parse: parsePositiveInt,
    },
    healthSlowMs: {
      flag: '--health-slow <duration>',
      help: 'MIZUAL_HEALTH_URL slower than this',
      default: '2s',
      parse: parseDuration,
    },
  },
  validate: (config) => {
    parseProbes(config.lookup('MIZUAL_PROBES'), config.healthUrl);
    parseProbeRetries(config.lookup('MIZUAL_PROBE_RETRIES'));
    if (config.lookup('MIZUAL_CELERY_BROKER_URL') ?? config.lookup('CELERY_BROKER_URL')) {
      parseQueues(config.lookup('MIZUAL_CELERY_QUEUES'));
    }
  },
  run: async (context, limits) => {
    const checked = await shareOnce(context, OUTSIDE_READ, () =>
      startOutsideChecks({
        config: context.config,
        record: !context.dryRun,
        now: context.now,
        limits,
        snapshot: context.snapshot ?? undefined,
        dial: context.dial,
      }),
    );
    context.diagnostics.push(...checked.problems);
    return { observations: checked.observations, outside: checked.figures };
  },
});
