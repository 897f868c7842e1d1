/**
 * `cost`: the logs' projected monthly bucket cost past `MIZUAL_COST_BUDGET` (WARNING). Read from what
 * the shipper recorded here (compressed bytes per day and container), never from a bucket listing:
 * this runs every 5 minutes.
 */
import { defineCheck } from '../check.js';
import type { Observation } from '../state.js';
import { DEFAULT_FREE_GB, DEFAULT_PRICE_PER_TB, shipCostFigures } from '../../core/cost.js';
import { UsageError } from '../../core/errors.js';
import { readShipUsage } from '../../core/ship-state.js';
import { formatBytes } from '../../core/units.js';

/** A non-negative amount of money (`10`, `12.5`); `off` or empty: no check. */
function parseAmount(text: string, what: string): number | null {
  if (text.trim() === '' || text.trim() === 'off') return null;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0)
    throw new UsageError(`${what} must be an amount such as 10 or 12.5 (got '${text}')`);
  return n;
}

/** WARNING when the steady state at the last 7 days' rate costs more a month than the budget. */
export async function checkCost(
  stateDir: string,
  budget: number,
  pricePerTb: number,
  retentionDays: number,
  now: Date,
): Promise<Observation> {
  const base = { check: 'cost', severity: 'warning' as const, threshold: budget };
  const usage = await readShipUsage(stateDir);
  if (!usage) {
    const note = 'mizual-ship-logs has recorded no archive here yet';
    return { ...base, value: null, message: 'log storage cost not checked', skipped: true, note };
  }
  const f = shipCostFigures(usage, now.getTime(), retentionDays, { pricePerTb, freeGb: DEFAULT_FREE_GB });
  const cost = Math.round(f.projectedMonthlyCost * 100) / 100;
  const message =
    `projected log storage ${cost.toFixed(2)} a month (budget ${budget}): ${formatBytes(f.perDay7)} a day ` +
    `for ${retentionDays} days is ${formatBytes(f.steadyStateBytes)} at ${pricePerTb} per TB, the first ` +
    `${DEFAULT_FREE_GB} GB free; mizual-fetch-logs --usage --patterns shows which containers and lines`;
  return {
    ...base,
    value: cost,
    message,
    measure: { value: f.projectedMonthlyCost, threshold: budget },
    data: { perDay7: Math.round(f.perDay7), steadyStateBytes: Math.round(f.steadyStateBytes), storedBytes: f.bytes },
  };
}

export const costCheck = defineCheck({
  name: 'cost',
  group: 'Container checks:',
  flags: {
    budget: {
      flag: '--cost-budget <amount>',
      more: true,
      help: 'projected monthly bucket cost past this',
      default: 'off',
      variable: 'MIZUAL_COST_BUDGET',
      parse: parseAmount,
    },
    pricePerTb: {
      flag: '--price-per-tb <amount>',
      more: true,
      help: 'with the cost check: price per TB-month',
      default: String(DEFAULT_PRICE_PER_TB),
      parse: (text, what) => parseAmount(text, what) ?? DEFAULT_PRICE_PER_TB,
    },
  },
  run: async (context, limits) => {
    if (limits.budget === null) return { observations: [] };
    const { config, now } = context;
    return {
      observations: [await checkCost(config.stateDir, limits.budget, limits.pricePerTb, config.retentionDays, now)],
    };
  },
});
