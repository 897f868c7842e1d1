/** `docker-logs:<short>`: a container's json-file logs, all generations, past `--docker-log-size` (WARNING). */
import { defineCheck } from '../check.js';
import type { Observation } from '../state.js';
import { formatBytes } from '../../core/units.js';
import { listGenerations, logRotationConfigured } from '../../docker/log-files.js';
import type { SeenContainer } from '../../docker/snapshot.js';
import { parseSize } from '../log.js';

const CAP_ADVICE =
  'cap them with "log-opts": {"max-size": "50m", "max-file": "5"} in /etc/docker/daemon.json, or logging.options ' +
  'max-size/max-file in the compose file (applies to containers created afterwards)';

/**
 * `docker-logs:<short>`: WARNING when a container's json-file log, all generations, is past limitBytes.
 * Docker's default json-file never rotates, so a chatty container fills a small disk.
 */
export async function checkDockerLogs(seen: readonly SeenContainer[], limitBytes: number): Promise<Observation[]> {
  const checked = await Promise.all(
    seen.map(async ({ spec, details: d }): Promise<Observation | null> => {
      if (!d) return null;
      const base = { check: `docker-logs:${spec.short}`, severity: 'warning' as const, threshold: limitBytes };
      if (d.logDriver !== 'json-file' || !d.logPath) {
        const note = `logs with the ${d.logDriver || 'unknown'} driver`;
        return { ...base, value: null, message: `container ${spec.name} log files not checked`, skipped: true, note };
      }
      const files = await listGenerations(d.logPath).catch(() => []);
      if (files.length === 0) {
        const note = `${d.logPath} not readable here (a remote engine, or not root)`;
        return { ...base, value: null, message: `container ${spec.name} log files not checked`, skipped: true, note };
      }
      const total = files.reduce((sum, f) => sum + f.size, 0);
      const rotated = logRotationConfigured(d.logDriver, d.logOptions);
      const how = rotated
        ? `rotated at max-size ${d.logOptions['max-size']} × max-file ${d.logOptions['max-file'] ?? '1'}: lower them`
        : `not rotated: ${CAP_ADVICE}`;
      const size = `json-file logs ${formatBytes(total)} in ${files.length} file${files.length === 1 ? '' : 's'}`;
      const message = `container ${spec.name} ${size} (threshold ${formatBytes(limitBytes)})`;
      return {
        ...base,
        value: total,
        message: total > limitBytes ? `${message}, ${how}` : message,
        failing: total > limitBytes,
        data: { files: files.length, rotation: rotated },
      };
    }),
  );
  return checked.filter((o): o is Observation => o !== null);
}

export const dockerLogsCheck = defineCheck({
  name: 'docker-logs',
  group: 'Container checks:',
  flags: {
    dockerLogBytes: {
      flag: '--docker-log-size <size>',
      help: "a container's json-file logs past this",
      default: '1G',
      parse: parseSize,
    },
  },
  run: async (context, limits) => {
    const snapshot = context.snapshot ? await context.snapshot : null;
    if (!snapshot || 'error' in snapshot) return { observations: [] };
    return { observations: await checkDockerLogs(snapshot.watched, limits.dockerLogBytes) };
  },
});
