import type { Config } from './config.js';
import { parsePercent } from './units.js';

export interface Thresholds {
  cpu: number;
  memory: number;
  disk: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { cpu: 80, memory: 85, disk: 90 };

/** Thresholds from flags, else `MIZUAL_ALERT_*`, else the defaults 80/85/90. */
export function resolveThresholds(
  flags: { cpu?: string; memory?: string; disk?: string },
  config: Pick<Config, 'thresholds'>,
): Thresholds {
  const pick = (flag: string | undefined, env: string | undefined, name: string, fallback: number): number => {
    if (flag !== undefined) return parsePercent(flag, `--${name}`);
    if (env !== undefined) return parsePercent(env, `MIZUAL_ALERT_${name.toUpperCase()}`);
    return fallback;
  };
  return {
    cpu: pick(flags.cpu, config.thresholds.cpu, 'cpu', DEFAULT_THRESHOLDS.cpu),
    memory: pick(flags.memory, config.thresholds.memory, 'memory', DEFAULT_THRESHOLDS.memory),
    disk: pick(flags.disk, config.thresholds.disk, 'disk', DEFAULT_THRESHOLDS.disk),
  };
}

/** Dashboard colouring: red at or above the alert threshold, yellow within 10 points of it. */
export function levelFor(value: number, threshold: number): 'ok' | 'warning' | 'critical' {
  if (value >= threshold) return 'critical';
  if (value >= threshold - 10) return 'warning';
  return 'ok';
}

/** Points a raised alert must fall below its threshold before it clears, so a value hovering at the line does not flap. */
export const HYSTERESIS_POINTS = 3;

/** The value an active threshold alert must drop below to clear (never more than half the threshold away). */
export function clearLevel(threshold: number, hysteresis: number = HYSTERESIS_POINTS): number {
  return threshold - Math.min(hysteresis, threshold / 2);
}
