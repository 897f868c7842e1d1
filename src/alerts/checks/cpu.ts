/** `cpu`: busy share since the previous run's counters, or over a sampling wait (WARNING, `--cpu-for` runs in a row). */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineCheck, percentText as pct } from '../check.js';
import type { CpuBaseline, Observation } from '../state.js';
import { describeError } from '../../core/errors.js';
import { DEFAULT_THRESHOLDS } from '../../core/thresholds.js';
import { parseDuration, parsePercent, parsePositiveInt } from '../../core/units.js';
import { computeCpuPercent, readCpuTimes, type CpuTimes } from '../../host/index.js';

/** A stored CPU baseline older than this is not used (the delta would average too much away). */
export const CPU_BASELINE_MAX_AGE_MS = 15 * 60_000;

export interface CpuOptions {
  procRoot?: string;
  thresholds: { cpu: number };
  cpuFor: number;
  /** Sampling wait when there is no usable baseline; 0 never waits (CPU is skipped until a baseline exists). */
  cpuSampleMs: number;
  previousCpu: CpuBaseline | null;
}

/**
 * CPU busy % since the previous run's counters when they are fresh (no wait, and the figure covers
 * the whole interval between cron runs), else over a real sampling wait.
 */
export async function checkCpu(
  options: CpuOptions,
): Promise<{ observation: Observation; baseline: CpuBaseline | null }> {
  const threshold = options.thresholds.cpu;
  const base = { check: 'cpu', severity: 'warning' as const, threshold, forRuns: options.cpuFor };
  let before: CpuTimes | CpuBaseline;
  let after: CpuTimes;
  let windowMs: number;
  try {
    const first = await readCpuTimes({ procRoot: options.procRoot });
    const startedAt = Date.now();
    const prev = options.previousCpu;
    const age = prev ? startedAt - prev.takenAt : Infinity;
    if (prev && age > 0 && age <= CPU_BASELINE_MAX_AGE_MS && first.total > prev.total && first.busy >= prev.busy) {
      [before, after, windowMs] = [prev, first, age];
    } else if (options.cpuSampleMs > 0) {
      await sleep(options.cpuSampleMs);
      [before, after, windowMs] = [first, await readCpuTimes({ procRoot: options.procRoot }), options.cpuSampleMs];
    } else {
      const baseline = { busy: first.busy, total: first.total, takenAt: startedAt };
      const note = 'no recent baseline: measured from the next run on';
      return { observation: { ...base, value: null, message: 'cpu not measured yet', skipped: true, note }, baseline };
    }
    const percent = computeCpuPercent({ ...before, cores: 1 }, after);
    const seconds = windowMs / 1000;
    const over = seconds < 60 ? `${seconds.toFixed(1)}s` : `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
    return {
      observation: {
        ...base,
        value: percent,
        measure: { value: percent, threshold },
        message: `cpu ${pct(percent)} busy over ${over} (threshold ${pct(threshold)})`,
      },
      baseline: { busy: after.busy, total: after.total, takenAt: Date.now() },
    };
  } catch (err) {
    return {
      observation: { ...base, value: null, message: `cpu: ${describeError(err)}`, unknown: true },
      baseline: null,
    };
  }
}

export const cpuCheck = defineCheck({
  name: 'cpu',
  group: 'Host checks:',
  flags: {
    cpu: {
      flag: '--cpu <percent>',
      help: 'CPU busy %, WARNING',
      default: String(DEFAULT_THRESHOLDS.cpu),
      variable: 'MIZUAL_ALERT_CPU',
      parse: parsePercent,
    },
    cpuFor: {
      flag: '--cpu-for <runs>',
      more: true,
      help: 'WARNING after this many runs above it',
      default: '2',
      parse: parsePositiveInt,
    },
    cpuSampleMs: {
      flag: '--cpu-sample <duration>',

      help: 'CPU sample wait without a recent baseline',
      default: '3s',
      parse: (text: string, what: string) => (/^0+(\.0*)?[smhd]?$/.test(text.trim()) ? 0 : parseDuration(text, what)),
    },
  },
  run: async (context, limits) => {
    const { observation, baseline } = await checkCpu({
      procRoot: context.procRoot,
      thresholds: limits,
      cpuFor: limits.cpuFor,
      cpuSampleMs: limits.cpuSampleMs,
      previousCpu: context.previousCpu,
    });
    const cpuPercent = typeof observation.value === 'number' ? observation.value : null;
    return { observations: [observation], cpu: baseline, sample: { cpuPercent } };
  },
});
