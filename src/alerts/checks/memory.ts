/** `memory`: used as (MemTotal - MemAvailable) / MemTotal (WARNING). */
import { defineCheck, percentText as pct } from '../check.js';
import type { Observation } from '../state.js';
import { describeError } from '../../core/errors.js';
import { DEFAULT_THRESHOLDS } from '../../core/thresholds.js';
import { parsePercent } from '../../core/units.js';
import { readMemory, type MemoryFigures } from '../../host/index.js';

/** Memory used as (MemTotal - MemAvailable) / MemTotal. */
export async function checkMemory(
  options: { procRoot?: string; thresholds: { memory: number } },
  read: Promise<MemoryFigures> = readMemory({ procRoot: options.procRoot }),
): Promise<Observation> {
  const threshold = options.thresholds.memory;
  const base = { check: 'memory', severity: 'warning' as const, threshold };
  try {
    const mem = await read;
    const value = mem.usedPercent;
    const message = `memory ${pct(value)} used (threshold ${pct(threshold)})`;
    return { ...base, value, measure: { value, threshold }, message };
  } catch (err) {
    return { ...base, value: null, message: `memory: ${describeError(err)}`, unknown: true };
  }
}

export const memoryCheck = defineCheck({
  name: 'memory',
  group: 'Host checks:',
  flags: {
    memory: {
      flag: '--memory <percent>',
      help: 'memory used %, WARNING',
      default: String(DEFAULT_THRESHOLDS.memory),
      variable: 'MIZUAL_ALERT_MEMORY',
      parse: parsePercent,
    },
  },
  run: async (context, limits) => ({
    observations: [await checkMemory({ thresholds: limits }, context.host.memory())],
  }),
});
