/**
 * `docker-disk`: what Docker could give back past `--reclaimable` (WARNING): images no container uses
 * (watchtower leaves the old one behind at each deploy unless WATCHTOWER_CLEANUP is set), build cache,
 * stopped containers and unused volumes, as `docker system df` counts them.
 */
import { defineCheck } from '../check.js';
import type { Observation } from '../state.js';
import { describeError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import { createDockerClient } from '../../docker/client.js';
import { describeReclaimable, readReclaimable, RECLAIM_COMMAND, type Reclaimable } from '../../docker/disk-usage.js';
import { parseSize } from '../log.js';

/** The observation for the engine's reclaimable bytes. */
export function observeReclaimable(r: Reclaimable, limitBytes: number): Observation {
  const parts = describeReclaimable(r);
  const what = parts !== '' ? ` (${parts})` : '';
  const over = r.total > limitBytes;
  return {
    check: 'docker-disk',
    severity: 'warning',
    value: r.total,
    threshold: limitBytes,
    message: `Docker could reclaim ${formatBytes(r.total)}${what}${over ? `: ${RECLAIM_COMMAND}` : ''}`,
    measure: { value: r.total, threshold: limitBytes },
    data: { images: r.images, buildCache: r.buildCache, containers: r.containers, volumes: r.volumes },
  };
}

export const dockerDiskCheck = defineCheck({
  name: 'docker-disk',
  group: 'Container checks:',
  flags: {
    reclaimableBytes: {
      flag: '--reclaimable <size>',
      help: 'what Docker could reclaim past this',
      default: '5G',
      parse: parseSize,
    },
  },
  run: async (context, limits) => {
    // --no-docker, or an engine that did not answer the run's one look: nothing to say here.
    const snapshot = context.snapshot ? await context.snapshot : null;
    if (!snapshot || 'error' in snapshot) return { observations: [] };
    const client = createDockerClient({ host: context.config.dockerHost });
    try {
      return { observations: [observeReclaimable(await readReclaimable(client), limits.reclaimableBytes)] };
    } catch (err) {
      const base = {
        check: 'docker-disk',
        severity: 'warning' as const,
        value: null,
        threshold: limits.reclaimableBytes,
      };
      return {
        observations: [{ ...base, message: `Docker disk usage not read: ${describeError(err)}`, unknown: true }],
      };
    } finally {
      client.close();
    }
  },
});
