/** `shipping`: the last successful log upload is recent (WARNING past `--ship-max-age`). */
import { defineCheck } from '../check.js';
import type { Observation } from '../state.js';
import { readLastUpload } from '../../core/ship-state.js';
import { formatUptime, parseDuration } from '../../core/units.js';

/**
 * The shipper's own health: `ship-state.json` must show a successful upload within maxAgeMs. No file
 * means the shipper has not run here yet (skipped, with a note); no `lastUploadAt` means it never uploaded
 * (raised once that has lasted maxAgeMs).
 */
export async function checkShipping(stateDir: string, maxAgeMs: number, now: Date): Promise<Observation> {
  const limit = formatUptime(maxAgeMs / 1000);
  const base = { check: 'shipping', severity: 'warning' as const, threshold: limit };
  const read = await readLastUpload(stateDir);
  if (read.status === 'missing') {
    const note = `${read.file} not found: mizual-ship-logs has not run here yet`;
    return { ...base, value: null, message: 'log shipping not checked', skipped: true, note };
  }
  if (read.status === 'corrupt')
    return { ...base, value: null, message: `${read.file}: ${read.reason}`, failing: true };
  const at = read.lastUploadAtMs;
  if (at === null) {
    // The shipper has run but never uploaded: give it the same grace as a stale upload before warning.
    const message = 'log shipping has no successful upload recorded';
    return { ...base, value: null, message, failing: true, forMs: maxAgeMs };
  }
  const ageMs = Math.max(0, now.getTime() - at);
  const ago = formatUptime(ageMs / 1000);
  const stamp = new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    ...base,
    value: stamp,
    message: `last successful log upload ${ago} ago at ${stamp} (limit ${limit})`,
    failing: ageMs > maxAgeMs,
  };
}

export const shippingCheck = defineCheck({
  name: 'shipping',
  group: 'Container checks:',
  flags: {
    shipMaxAgeMs: {
      flag: '--ship-max-age <duration>',
      help: 'last successful log upload older than this',
      default: '1h',
      parse: parseDuration,
    },
  },
  run: async (context, limits) => ({
    observations: [await checkShipping(context.config.stateDir, limits.shipMaxAgeMs, context.now)],
  }),
});
