// State-file size benchmark for mizual-alerts (issue 12): a simulated year of 5-minute runs through the
// same pure functions the tool uses (disk forecast, net volume, host and container OOM/restart events,
// applyObservations), the state written with saveAlertState after every simulated day, and its size
// compared with the size after the first day. 4 filesystems growing, 3 interfaces with traffic and a
// counter reset (reboot) every month, 5 containers restarting now and then, an OOM kill a week.
// Target: under 256 KiB throughout. Run: node --import tsx bench/alert-state-year.mjs
// Writes bench/results/alert-state-year.json.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyObservations, saveAlertState } from '../src/alerts/state.ts';
import {
  containerEventChecks,
  diskForecastChecks,
  hostOomCheck,
  netVolumeChecks,
} from '../src/alerts/checks/trends.ts';
import { emptyTrends } from '../src/core/trends.ts';
import { toDetails } from '../src/docker/model.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(path.join(tmpdir(), 'mizual-bench-state-'));
const STEP = 300_000;
const DAY = 86_400_000;
const start = Date.parse('2026-01-01T00:00:00Z');
const GiB = 1024 ** 3;
const mounts = ['/', '/var/lib/docker', '/data', '/boot'];
const ifaces = ['eth0', 'eth1', 'docker0'];
const specs = [1, 2, 3, 4, 5].map((i) => ({ short: `c${i}`, name: `mizual-c${i}` }));

let trends = emptyTrends();
let checks = {};
let lastRunMs = null;
const restartCounts = specs.map(() => 0);
let oomKills = 0;
let netBase = 0;
let maxBytes = 0;
let firstDayBytes = 0;
const started = process.hrtime.bigint();
for (let t = 0, run = 0; t < 365 * DAY; t += STEP, run++) {
  const nowMs = start + t;
  const bootId = `boot-${Math.floor(t / (30 * DAY))}`;
  if (t % (30 * DAY) === 0) netBase = 0; // counters restart with each monthly reboot
  netBase += 20 * 1024 ** 2;
  const disks = mounts.map((mount, i) => {
    const used = 5 * GiB + (((t / DAY) * 0.01 * GiB * (i + 1)) % (30 * GiB));
    return {
      mount,
      device: `/dev/vd${i}`,
      fsType: 'ext4',
      totalBytes: 40 * GiB,
      usedBytes: used,
      availableBytes: 40 * GiB - used,
      usedPercent: 0,
      inodesTotal: 0,
      inodesUsed: 0,
      inodesUsedPercent: 0,
    };
  });
  const oomNow = run % 2016 === 1000; // one a week
  if (oomNow) oomKills++;
  const seen = specs.map((spec, i) => {
    if (run % (97 * (i + 1)) === 0) restartCounts[i]++;
    return {
      spec,
      details: {
        ...toDetails({ Id: `id-${i}`, Name: `/${spec.name}` }),
        state: 'running',
        restartCount: restartCounts[i],
        oomKilled: oomNow && i === 0,
        finishedAt: oomNow && i === 0 ? new Date(nowMs).toISOString() : null,
        createdAt: '2025-12-01T00:00:00Z',
      },
    };
  });
  const forecast = diskForecastChecks(trends.disks, disks, nowMs, 7);
  const host = hostOomCheck(trends.host, { oomKills, bootId }, nowMs);
  const events = containerEventChecks(trends.containers, seen, {
    nowMs,
    lastRunMs,
    hostKilled: host.killed,
    restartsLimit: 3,
  });
  const counters = ifaces.map((iface, i) => ({ iface, rxBytes: netBase * (i + 1), txBytes: netBase }));
  const net = netVolumeChecks(trends.net, counters, {
    nowMs,
    rebooted: trends.host.bootId !== null && trends.host.bootId !== bootId,
    inBytes: GiB,
    outBytes: 5 * GiB,
  });
  trends = { disks: forecast.disks, net: net.net, containers: events.containers, host: host.host };
  const observations = [...forecast.observations, host.observation, ...events.observations, ...net.observations];
  checks = applyObservations(checks, observations, new Date(nowMs), 3_600_000).records;
  lastRunMs = nowMs;
  if ((t + STEP) % DAY === 0) {
    await saveAlertState(dir, {
      version: 1,
      updatedAt: new Date(nowMs).toISOString(),
      checks,
      cpu: { busy: 1, total: 2, takenAt: nowMs },
      trends,
    });
    const size = statSync(path.join(dir, 'alerts-state.json')).size;
    if (firstDayBytes === 0) firstDayBytes = size;
    maxBytes = Math.max(maxBytes, size);
  }
}
const finalBytes = statSync(path.join(dir, 'alerts-state.json')).size;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
rmSync(dir, { recursive: true, force: true });
const result = {
  runs: (365 * DAY) / STEP,
  firstDayBytes,
  finalBytes,
  maxBytes,
  limitBytes: 256 * 1024,
  simulatedInSeconds: seconds,
};
console.log(
  `state after day 1: ${(firstDayBytes / 1024).toFixed(1)} KiB; after a year (${result.runs} runs): ${(finalBytes / 1024).toFixed(1)} KiB; largest ${(maxBytes / 1024).toFixed(1)} KiB (target < 256 KiB)`,
);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/alert-state-year.json'), JSON.stringify(result, null, 2));
