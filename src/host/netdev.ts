/** The network collector: per-interface byte counters of `/proc/net/dev` and their rates. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isFiniteNumber, procPath, readProcFile, type HostOptions } from './proc.js';

export interface NetCounters {
  iface: string;
  rxBytes: number;
  txBytes: number;
}

export interface NetRates extends NetCounters {
  rxBytesPerSec: number;
  txBytesPerSec: number;
}

/** Read per-interface byte counters from `<procRoot>/net/dev`, skipping loopback and (unless keepVeth) veth pairs. */
export async function readNetCounters(opts?: HostOptions & { keepVeth?: boolean }): Promise<NetCounters[]> {
  return parseNetDev(await readProcFile(procPath(opts, 'net', 'dev')), opts);
}

/**
 * Whether an interface is a virtual one (bridge, veth, ifb, tunnel): its `/sys/class/net` link points
 * under `devices/virtual`. An interface unknown to sysfs (a fixture procfs) counts as physical.
 */
export async function isVirtualInterface(iface: string, sysRoot = '/sys'): Promise<boolean> {
  try {
    return (await fsp.readlink(join(sysRoot, 'class', 'net', iface))).includes('/devices/virtual/');
  } catch {
    return false;
  }
}

/** Parse `/proc/net/dev` text; `lo` and (unless keepVeth) Docker's `veth*` ends are left out. */
export function parseNetDev(text: string, options: { keepVeth?: boolean } = {}): NetCounters[] {
  const counters: NetCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    if (iface === '' || iface === 'lo' || (iface.startsWith('veth') && !options.keepVeth)) continue;
    // Old kernels print "eth0:123" with no space, hence splitting after the colon.
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    const rxBytes = fields[0];
    const txBytes = fields[8];
    if (!isFiniteNumber(rxBytes) || !isFiniteNumber(txBytes)) continue;
    counters.push({ iface, rxBytes, txBytes });
  }
  return counters;
}

/** Bytes per second per interface between two readings `elapsedMs` apart (0 for new or reset counters). */
export function computeNetRates(
  before: readonly NetCounters[],
  after: readonly NetCounters[],
  elapsedMs: number,
): NetRates[] {
  const previous = new Map(before.map((c) => [c.iface, c]));
  const seconds = elapsedMs / 1000;
  return after.map((now) => {
    const then = previous.get(now.iface);
    return {
      ...now,
      rxBytesPerSec: rate(then?.rxBytes, now.rxBytes, seconds),
      txBytesPerSec: rate(then?.txBytes, now.txBytes, seconds),
    };
  });
}

function rate(before: number | undefined, after: number, seconds: number): number {
  // An interface recreated between samples restarts its counters; a negative rate is noise.
  if (before === undefined || seconds <= 0 || after < before) return 0;
  return Math.round((after - before) / seconds);
}
