import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerFigures, MetricsReport } from '../../src/metrics/report.js';
import { renderDashboard } from '../../src/metrics/render.js';

const container = (over: Partial<ContainerFigures>): ContainerFigures => ({
  name: 'mizual-backend',
  id: 'abc',
  image: 'registry/app:1',
  state: 'running',
  health: 'none',
  cpuPercent: 1,
  memoryBytes: 1024,
  restarts: 4,
  restartsLastHour: 3,
  configured: true,
  short: 'backend',
  createdAt: '2026-11-30T12:00:00Z',
  startedAt: '2026-12-01T11:00:00Z',
  finishedAt: null,
  uptimeSeconds: 3600,
  exitCode: null,
  exitedSecondsAgo: null,
  oomKilled: false,
  logBytes: 2048,
  logFiles: 1,
  logRotation: false,
  ...over,
});

const report = (containers: ContainerFigures[]): MetricsReport => ({
  host: 'h',
  time: '2026-12-01T12:00:00Z',
  uptimeSeconds: 10,
  load: { load1: 0, load5: 0, load15: 0 },
  cpu: { percent: 1, cores: 2 },
  memory: {
    totalBytes: 2,
    availableBytes: 1,
    usedBytes: 1,
    usedPercent: 50,
    swapTotalBytes: 0,
    swapUsedBytes: 0,
    swapFreeBytes: 0,
  },
  disks: [],
  network: [],
  docker: { available: true, reason: null },
  containers,
  redis: null,
  backendErrors: null,
  hold: null,
  disksNotAnswering: [],
  diskTrends: [],
  thresholds: { cpu: 80, memory: 85, disk: 90 },
  sampleIntervalMs: 500,
});

describe('dashboard containers', () => {
  it('no health column unless some container has a health check; uptime, exit and OOM, restarts in the hour', () => {
    const exited = container({
      name: 'mizual-celery',
      state: 'exited',
      uptimeSeconds: null,
      exitCode: 137,
      finishedAt: '2026-12-01T11:55:00Z',
      exitedSecondsAgo: 300,
      oomKilled: true,
      restartsLastHour: null,
      logRotation: true,
    });
    const plain = renderDashboard(report([container({}), exited]), false);
    assert.doesNotMatch(plain, /health/);
    assert.match(
      plain,
      /^mizual-backend\s+running\s+up 1h 0m\s+1\.0\s+1\.0 KiB\s+4 \(3\)\s+registry\/app:1\s+1d 0h 0m ago\s+2\.0 KiB unrotated/m,
    );
    assert.match(plain, /^mizual-celery\s+exited\s+exit 137 5m ago OOM\s+.*\s+4\s+registry\/app:1\s+.*2\.0 KiB\s*$/m);
    const checked = renderDashboard(report([container({ health: 'healthy' }), exited]), false);
    assert.match(checked, /^container\s+state\s+health\s+up \/ exited/m);
    assert.match(checked, /^mizual-celery\s+exited\s+none\s+exit 137/m);
  });
});

describe('the hold line', () => {
  it("shows the shipper's hold when it holds something, and nothing otherwise", () => {
    const base = report([container({})]);
    assert.doesNotMatch(renderDashboard(base, false), /log hold/);
    const held = renderDashboard(
      {
        ...base,
        hold: { dir: '/var/lib/docker/mizual-hold', containers: 2, bytes: 3 * 1024 * 1024, onlyHeldBytes: 1024 },
      },
      false,
    );
    assert.match(
      held,
      /log hold \(\/var\/lib\/docker\/mizual-hold\): 2 container\(s\), 3(\.0)? MiB, 1(\.0)? KiB kept only by the hold/,
    );
  });
});

describe('the reclaimable line', () => {
  it('names what Docker could give back and the command once it is over 1 GB, and nothing below', () => {
    const base = report([container({})]);
    const with_ = (total: number, images: number): MetricsReport => ({
      ...base,
      docker: {
        ...base.docker,
        reclaimable: { images, buildCache: 0, containers: total - images, volumes: 0, total },
        reclaimCommand: 'docker system prune --all --volumes',
      },
    });
    assert.doesNotMatch(renderDashboard(with_(900e6, 900e6), false), /could reclaim/);
    assert.match(
      renderDashboard(with_(3e9, 2.5e9), false),
      /^docker could reclaim 2\.8 GiB \(unused images 2\.3 GiB, stopped containers 477 MiB\): docker system prune --all --volumes$/m,
    );
  });
});
