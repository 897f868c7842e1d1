/**
 * Telling a step back of the wall clock (NTP correcting a VM that ran fast, or was paused) from the
 * time since boot, which never goes back: between two runs of one boot, the wall clock advanced less
 * than the uptime by exactly the step.
 */
import { promises as fsp } from 'node:fs';
import type { ClockSample } from '../core/ship-state.js';
import { msToNano } from '../core/time.js';

/** The wall clock (as the run sees it) with the uptime and boot id now; null where /proc has none. */
export async function sampleClock(wallMs: number): Promise<ClockSample | null> {
  try {
    const [uptime, bootId] = await Promise.all([
      fsp.readFile('/proc/uptime', 'latin1'),
      fsp.readFile('/proc/sys/kernel/random/boot_id', 'latin1'),
    ]);
    const seconds = Number(uptime.split(' ')[0]);
    if (!Number.isFinite(seconds)) return null;
    return { wallMs, uptimeMs: Math.round(seconds * 1000), bootId: bootId.trim() };
  } catch {
    return null;
  }
}

/** How far the wall clock stepped back between two samples of one boot (0 otherwise; 1 s of slack). */
export function stepBackNs(before: ClockSample | undefined, now: ClockSample | null): bigint {
  if (!before || !now || before.bootId !== now.bootId) return 0n;
  const back = now.uptimeMs - before.uptimeMs - (now.wallMs - before.wallMs);
  return back > 1000 ? msToNano(back) : 0n;
}
