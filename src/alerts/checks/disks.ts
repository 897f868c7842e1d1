/** `disk:<mount>` and `inodes:<mount>`: space and inodes of every real filesystem (CRITICAL). */
import { defineCheck, percentText as pct } from '../check.js';
import type { Observation } from '../state.js';
import { describeError } from '../../core/errors.js';
import { DEFAULT_THRESHOLDS } from '../../core/thresholds.js';
import { parsePercent } from '../../core/units.js';
import { readFilesystemReport, STATFS_TIMEOUT_MS, type FilesystemReport } from '../../host/index.js';

/** Space (`disk:<mount>`) and inodes (`inodes:<mount>`) of every real filesystem, CRITICAL above the threshold. */
export async function checkDisks(
  options: { procRoot?: string; thresholds: { disk: number } },
  read: Promise<FilesystemReport> = readFilesystemReport({ procRoot: options.procRoot }),
): Promise<Observation[]> {
  const threshold = options.thresholds.disk;
  try {
    const { disks, notAnswering } = await read;
    // A hung mount is UNKNOWN for its own check, not a hang of the whole run.
    const hung = notAnswering.map((m): Observation => ({
      check: `disk:${m.mount}`,
      severity: 'critical',
      value: null,
      threshold,
      message: `disk ${m.mount} (${m.fsType} ${m.device}) not answering: statfs took over ${STATFS_TIMEOUT_MS / 1000} s`,
      unknown: true,
    }));
    return [
      ...hung,
      ...disks.flatMap((d) => {
        // Space, and inodes where the filesystem counts them: the same check on two figures.
        const used = (what: 'disk' | 'inodes', value: number): Observation => ({
          check: `${what}:${d.mount}`,
          severity: 'critical',
          value,
          threshold,
          measure: { value, threshold },
          message: `${what} ${d.mount} ${pct(value)} used (threshold ${pct(threshold)})`,
        });
        const space = used('disk', d.usedPercent);
        return d.inodesTotal === 0 ? [space] : [space, used('inodes', d.inodesUsedPercent)];
      }),
    ];
  } catch (err) {
    const message = `disks: ${describeError(err)}`;
    return [{ check: 'disk', severity: 'critical', value: null, threshold, message, unknown: true }];
  }
}

export const disksCheck = defineCheck({
  name: 'disk',
  group: 'Host checks:',
  flags: {
    disk: {
      flag: '--disk <percent>',
      help: 'filesystem %, CRITICAL',
      default: String(DEFAULT_THRESHOLDS.disk),
      variable: 'MIZUAL_ALERT_DISK',
      parse: parsePercent,
    },
  },
  run: async (context, limits) => ({
    observations: await checkDisks({ thresholds: limits }, context.host.filesystems()),
  }),
});
