import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { checkHealthUrl } from '../../src/alerts/checks/health.js';
import { applyObservations, type CheckRecord, type Observation } from '../../src/alerts/state.js';
import {
  containerEventChecks,
  diskForecastChecks,
  hostOomCheck,
  netVolumeChecks,
  type SeenContainer,
} from '../../src/alerts/checks/trends.js';
import {
  emptyTrends,
  forecastDisk,
  type ContainerTrend,
  type DiskTrend,
  type NetTrend,
} from '../../src/core/trends.js';
import { toDetails, type ContainerDetails } from '../../src/docker/model.js';
import type { DiskFigures } from '../../src/host/index.js';
import { listGenerations, logRotationConfigured } from '../../src/docker/log-files.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const HOUR = 3_600_000;
const START = Date.parse('2026-11-20T00:00:00Z');

/** Feed each run's observations through the alert state like mizual-alerts does; collect the log lines. */
function alertLog() {
  let records: Record<string, CheckRecord> = {};
  return (observations: Observation[], nowMs: number, repeatMs = HOUR) => {
    const out = applyObservations(records, observations, new Date(nowMs), repeatMs);
    records = out.records;
    return { lines: out.events.map((e) => `${e.severity} ${e.check}: ${e.message}`), results: out.results };
  };
}

const disk = (usedBytes: number, sizeBytes = 40 * GiB): DiskFigures => ({
  mount: '/',
  device: '/dev/root',
  fsType: 'ext4',
  totalBytes: sizeBytes,
  usedBytes,
  availableBytes: sizeBytes - usedBytes,
  usedPercent: (usedBytes / sizeBytes) * 100,
  inodesTotal: 0,
  inodesUsed: 0,
  inodesUsedPercent: 0,
});

/** Runs every 5 minutes for `hours`, used bytes from usedAt(ms since start); skip runs where down(ms) holds. */
function replayDisk(hours: number, usedAt: (t: number) => number, down: (t: number) => boolean = () => false) {
  const log = alertLog();
  let disks: Record<string, DiskTrend> = {};
  const lines: string[] = [];
  let last: Observation | undefined;
  for (let t = 0; t <= hours * HOUR; t += 300_000) {
    if (down(t)) continue;
    const out = diskForecastChecks(disks, [disk(usedAt(t))], START + t, 7);
    disks = out.disks;
    last = out.observations[0];
    lines.push(...log(out.observations, START + t).lines);
  }
  return { lines, last, disks };
}

describe('disk forecast', () => {
  it('filling: WARNING once 6 h of samples show it full within --disk-days, with the rate and the date', () => {
    // 30 GiB used of 40, growing 2 GiB a day: full in 5 days.
    const { lines, last, disks } = replayDisk(8, (t) => 30 * GiB + (2 * GiB * t) / (24 * HOUR));
    assert.equal(lines.length, 3, 'the WARNING at 6 h and reminders at 7 h and 8 h');
    assert.match(lines[2] ?? '', /\(active since 2026-11-20T06:00:00Z\)$/);
    assert.match(
      lines[0] ?? '',
      /^WARNING disk-forecast:\/: disk \/ grows \+2\.0 GiB\/day over the last 6h 0m: 9\.5 GiB left, /,
    );
    assert.match(lines[0] ?? '', /full in 4\.8 days around 2026-11-25 00:00 UTC \(threshold 7 days\)$/);
    assert.ok(Math.abs(Number(last?.data?.['bytesPerDay']) - 2 * GiB) < 1024, String(last?.data?.['bytesPerDay']));
    assert.equal(last?.failing, true);
    // The first WARNING comes at 6 h, not before.
    const early = replayDisk(5.9, (t) => 30 * GiB + (2 * GiB * t) / (24 * HOUR));
    assert.deepEqual(early.lines, []);
    assert.equal(early.last?.skipped, true);
    assert.match(early.last?.note ?? '', /needs 6h 0m of samples, has 5h 5\dm/);
    assert.ok((disks['/']?.samples.length ?? 0) <= 8 * 6 + 1, 'one sample per 10 minutes');
  });

  it('flat and shrinking filesystems are not filling; a slow growth with lots of room is fine', () => {
    assert.equal(replayDisk(12, () => 30 * GiB).last?.message, 'disk / not filling (+0 B/day over the last 12h 0m)');
    const shrinking = replayDisk(12, (t) => 30 * GiB - (t / HOUR) * 10 * MiB);
    assert.match(shrinking.last?.message ?? '', /^disk \/ not filling \(-240 MiB\/day over the last 12h 0m\)$/);
    assert.deepEqual(shrinking.lines, []);
    const slow = replayDisk(12, (t) => 10 * GiB + (t / HOUR) * MiB);
    assert.equal(slow.last?.failing, false);
    assert.ok(Number(slow.last?.value) > 300, 'years of room');
  });

  it('a reboot gap (no samples for 10 h) still gives the rate of the samples around it', () => {
    const grow = (t: number) => 30 * GiB + (2 * GiB * t) / (24 * HOUR);
    const { last } = replayDisk(20, grow, (t) => t > 4 * HOUR && t < 14 * HOUR);
    assert.ok(Math.abs(Number(last?.data?.['bytesPerDay']) - 2 * GiB) < 1024);
    assert.equal(last?.failing, true);
  });

  it('RESOLVED once the growth stops, and a reminder every --repeat while it goes on', () => {
    const log = alertLog();
    let disks: Record<string, DiskTrend> = {};
    const seen: string[] = [];
    for (let t = 0; t <= 60 * HOUR; t += 300_000) {
      // 2 GiB a day for 30 h, then flat: the fitted rate falls as the flat samples fill the 24 h window.
      const used = 30 * GiB + (2 * GiB * Math.min(t, 30 * HOUR)) / (24 * HOUR);
      const out = diskForecastChecks(disks, [disk(used)], START + t, 7);
      disks = out.disks;
      seen.push(...log(out.observations, START + t, 6 * HOUR).lines.map((l) => `${t / HOUR}h ${l.split(':')[0]}`));
    }
    assert.deepEqual(seen, [
      '6h WARNING disk-forecast',
      '12h WARNING disk-forecast',
      '18h WARNING disk-forecast',
      '24h WARNING disk-forecast',
      '30h WARNING disk-forecast',
      '36h WARNING disk-forecast',
      seen[6],
    ]);
    // Flat since 30 h: the rate has fallen enough (7.5 GiB left, under 1.07 GiB a day) some hours later.
    const resolvedAt = Number(/^([\d.]+)h RESOLVED disk-forecast$/.exec(seen[6] ?? '')?.[1]);
    assert.ok(resolvedAt > 36 && resolvedAt < 48, seen[6]);
  });

  it('keeps at most a day of samples per filesystem after a year of runs', () => {
    let disks: Record<string, DiskTrend> = {};
    for (let t = 0; t <= 365 * 24 * HOUR; t += 300_000) {
      disks = diskForecastChecks(disks, [disk(30 * GiB + t / 1000)], START + t, 7).disks;
    }
    assert.ok((disks['/']?.samples.length ?? 0) <= 145, String(disks['/']?.samples.length));
  });

  it('forecastDisk alone: needs 3 points over 6 h; the fill time is the available space over the rate', () => {
    const day = 24 * HOUR;
    assert.equal(forecastDisk([[START - 7 * HOUR, 0]], { usedBytes: 10, availableBytes: 10 }, START).enough, false);
    const fc = forecastDisk(
      [
        [START - day, 0],
        [START - day / 2, GiB / 2],
      ],
      { usedBytes: GiB, availableBytes: 3 * GiB },
      START,
    );
    assert.ok(fc.enough && Math.abs(fc.bytesPerDay - GiB) < 1 && Math.abs((fc.daysLeft ?? 0) - 3) < 1e-9);
  });
});

describe('network volume per rolling hour', () => {
  const eth = (rxBytes: number, txBytes = 0) => [{ iface: 'eth0', rxBytes, txBytes }];
  const limits = { inBytes: GiB, outBytes: 5 * GiB };

  it('sums the traffic between runs over the last hour; WARNING above --net-in, RESOLVED an hour later', () => {
    const log = alertLog();
    let net: Record<string, NetTrend> = {};
    let rx = 10 * GiB;
    const lines: string[] = [];
    let volume: unknown;
    for (let t = 0; t <= 3 * HOUR; t += 300_000) {
      // 100 MiB every 5 minutes for the first hour (1.17 GiB/hour), then 1 MiB.
      rx += t <= HOUR ? 100 * MiB : MiB;
      const out = netVolumeChecks(net, eth(rx), { nowMs: START + t, rebooted: false, ...limits });
      net = out.net;
      if (t === HOUR) volume = out.observations[0]?.value;
      lines.push(...log(out.observations, START + t).lines.map((l) => `${t / 60_000}m ${l}`));
    }
    assert.equal(volume, 1200 * MiB);
    assert.deepEqual(
      lines.map((l) => l.replace(/: eth0.*/, '')),
      ['55m WARNING net-in:eth0', '70m RESOLVED net-in:eth0'],
    );
    assert.match(lines[0] ?? '', /eth0 received 1\.1 GiB in the last 55m \(threshold 1\.0 GiB\/hour\)$/);
    assert.match(lines[1] ?? '', /eth0 received \d+ MiB in the last hour/);
    assert.ok((net['eth0']?.intervals.length ?? 0) <= 12, 'only the last hour is kept');
  });

  it('a counter that went backwards (reboot, interface recreated) counts from zero, never negative', () => {
    const first = netVolumeChecks({}, eth(5 * GiB, 6 * GiB), { nowMs: START, rebooted: false, ...limits });
    const after = netVolumeChecks(first.net, eth(200 * MiB, 7 * GiB), {
      nowMs: START + 300_000,
      rebooted: false,
      ...limits,
    });
    assert.equal(after.observations[0]?.value, 200 * MiB);
    assert.equal(after.observations[1]?.value, GiB);
    // A new boot with counters already past the old ones is still a reset.
    const rebooted = netVolumeChecks(first.net, eth(6 * GiB), { nowMs: START + 300_000, rebooted: true, ...limits });
    assert.equal(rebooted.observations[0]?.value, 6 * GiB);
    assert.equal(rebooted.observations[0]?.failing, true);
  });

  it('an interval reaching back past the hour counts in proportion; the first run only stores counters', () => {
    const first = netVolumeChecks({}, eth(0), { nowMs: START, rebooted: false, ...limits });
    assert.equal(first.observations[0]?.skipped, true);
    const late = netVolumeChecks(first.net, eth(2 * GiB), { nowMs: START + 2 * HOUR, rebooted: false, ...limits });
    assert.equal(late.observations[0]?.value, GiB);
    assert.equal(late.observations[0]?.failing, false, 'exactly at the limit is not above it');
  });
});

const details = (over: Partial<ContainerDetails>): ContainerDetails => ({
  ...toDetails({ Id: 'c1', Name: '/mizual-backend' }),
  state: 'running',
  createdAt: '2026-11-01T00:00:00Z',
  memoryLimitBytes: 512 * MiB,
  ...over,
});
const spec = { short: 'backend', name: 'mizual-backend' };

function replayContainers(steps: { t: number; d: ContainerDetails | null; hostKilled?: number }[]) {
  const log = alertLog();
  let containers: Record<string, ContainerTrend> = {};
  let lastRunMs: number | null = null;
  const lines: string[] = [];
  for (const { t, d, hostKilled } of steps) {
    const seen: SeenContainer[] = [{ spec, details: d }];
    const out = containerEventChecks(containers, seen, {
      nowMs: START + t,
      lastRunMs,
      hostKilled: hostKilled ?? 0,
      restartsLimit: 3,
    });
    containers = out.containers;
    lastRunMs = START + t;
    lines.push(...log(out.observations, START + t).lines.map((l) => `${t / 60_000}m ${l}`));
  }
  return lines;
}

describe('container OOM kills and restarts', () => {
  it('OOMKilled with a new FinishedAt is CRITICAL; the flag Docker 20.10 keeps after a restart is not news; RESOLVED after a clean hour', () => {
    const killed = { oomKilled: true, finishedAt: '2026-11-20T00:03:00.123456789Z', restartCount: 1, exitCode: 0 };
    const lines = replayContainers([
      { t: 0, d: details({}) },
      { t: 5 * 60_000, d: details(killed) },
      ...[10, 15, 60, 65].map((m) => ({ t: m * 60_000, d: details(killed) })),
    ]);
    assert.deepEqual(lines, [
      '5m CRITICAL oom:backend: container mizual-backend was OOM-killed at 2026-11-20T00:03:00Z (memory limit 512 MiB), restarted by Docker (1 restart)',
      '65m RESOLVED oom:backend: container mizual-backend: no OOM kill in the last hour',
    ]);
  });

  it('a restart while the host OOM counter moved counts as an OOM kill even without the flag', () => {
    const lines = replayContainers([
      { t: 0, d: details({}) },
      { t: 300_000, d: details({ restartCount: 1, finishedAt: '2026-11-20T00:04:00Z' }), hostKilled: 2 },
    ]);
    assert.deepEqual(lines, [
      '5m CRITICAL oom:backend: container mizual-backend restarted 1 time since the last run while the kernel OOM-killed 2 processes (memory limit 512 MiB)',
    ]);
  });

  it('restarts: WARNING at three in an hour, a reminder after --repeat, RESOLVED when they age out', () => {
    const at = (m: number, restartCount: number) => ({ t: m * 60_000, d: details({ restartCount }) });
    const lines = replayContainers([at(0, 0), at(5, 2), at(10, 3), at(40, 5), at(65, 7), at(70, 7), at(100, 7)]);
    assert.deepEqual(lines, [
      '10m WARNING restarts:backend: container mizual-backend restarted 3 times in the last hour (threshold 3)',
      '70m WARNING restarts:backend: container mizual-backend restarted 4 times in the last hour (threshold 3) (active since 2026-11-20T00:10:00Z)',
      '100m RESOLVED restarts:backend: container mizual-backend restarted 2 times in the last hour (threshold 3)',
    ]);
  });

  it('a container replaced since the last run (watchtower) brings its own restarts; a missing one keeps its history', () => {
    const lines = replayContainers([
      { t: 0, d: details({ restartCount: 7 }) },
      { t: 300_000, d: details({ id: 'c2', restartCount: 3, createdAt: '2026-11-20T00:02:00Z' }) },
      { t: 600_000, d: null },
    ]);
    assert.deepEqual(lines, [
      '5m WARNING restarts:backend: container mizual-backend restarted 3 times in the last hour (threshold 3)',
    ]);
  });
});

describe('host OOM kills', () => {
  it('the first run is a baseline; a kill is a WARNING for an hour; a reboot restarts the counter', () => {
    const log = alertLog();
    let host = emptyTrends().host;
    const lines: string[] = [];
    const steps: [number, number, string][] = [
      [0, 40, 'boot-a'],
      [5, 40, 'boot-a'],
      [10, 41, 'boot-a'],
      [15, 41, 'boot-a'],
      [70, 41, 'boot-a'],
      [75, 2, 'boot-b'],
    ];
    for (const [m, oomKills, bootId] of steps) {
      const out = hostOomCheck(host, { oomKills, bootId }, START + m * 60_000);
      host = out.host;
      lines.push(...log([out.observation], START + m * 60_000).lines.map((l) => `${m}m ${l}`));
    }
    assert.deepEqual(lines, [
      '10m WARNING oom:host: the kernel OOM-killed 1 process since the last run',
      '70m RESOLVED oom:host: no OOM kill on the host in the last hour',
      '75m WARNING oom:host: the kernel OOM-killed 2 processes since the last run',
    ]);
  });
});

describe('slow health URL', () => {
  it('a 2xx slower than --health-slow is a WARNING with the response time; a fast one is fine; an error stays CRITICAL', async () => {
    let delayMs = 400;
    let status = 200;
    const server = createServer((_req, res) => {
      setTimeout(() => {
        res.statusCode = status;
        res.end('ok');
      }, delayMs);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
    try {
      const log = alertLog();
      const [slow] = await checkHealthUrl(url, 5_000, 200);
      assert.equal(slow?.severity, 'warning');
      assert.equal(slow?.failing, true);
      assert.ok(Number(slow?.data?.['responseMs']) >= 400, String(slow?.data?.['responseMs']));
      assert.equal(slow?.threshold, 200);
      assert.match(
        log(slow ? [slow] : [], START).lines[0] ?? '',
        /^WARNING health: .* answered HTTP 200 in \d+ ms \(slower than 0\.2 s\)$/,
      );
      status = 500;
      const [error] = await checkHealthUrl(url, 5_000, 200);
      assert.equal(error?.severity, 'critical');
      assert.match(log(error ? [error] : [], START + 300_000).lines[0] ?? '', /^CRITICAL health: .* HTTP 500/);
      status = 200;
      delayMs = 0;
      const [fast] = await checkHealthUrl(url, 5_000, 200);
      assert.equal(fast?.failing, false);
      assert.ok(Number(fast?.data?.['responseMs']) < 200);
      assert.match(log(fast ? [fast] : [], START + 600_000).lines[0] ?? '', /^RESOLVED health: .* HTTP 200/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('json-file log generations', () => {
  it('lists the live file and .N / .N.gz generations with sizes, ignoring .tmp and other files', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mizual-log-gen-'));
    try {
      const log = path.join(dir, 'abc-json.log');
      writeFileSync(log, 'x'.repeat(10));
      writeFileSync(`${log}.1`, 'x'.repeat(20));
      writeFileSync(`${log}.2.gz`, 'x'.repeat(5));
      writeFileSync(`${log}.3.gz.tmp`, 'x'.repeat(99));
      writeFileSync(path.join(dir, 'config.v2.json'), '{}');
      const found = await listGenerations(log);
      assert.deepEqual(
        found.map((f) => [path.basename(f.path), f.index, f.size, f.compressed]),
        [
          ['abc-json.log', 0, 10, false],
          ['abc-json.log.1', 1, 20, false],
          ['abc-json.log.2.gz', 2, 5, true],
        ],
      );
      assert.deepEqual(await listGenerations(path.join(dir, 'gone', 'x-json.log')), []);
      assert.equal(logRotationConfigured('json-file', {}), false);
      assert.equal(logRotationConfigured('json-file', { 'max-size': '50m' }), true);
      assert.equal(logRotationConfigured('local', {}), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
