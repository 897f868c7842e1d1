// A week of kept samples in fake time, made through the real sample code (sampleValues, appendSample,
// writeSegment): five-minute runs, a gap where the box was off, a reboot (counters back to near zero),
// a container that appears and one that is removed, optional application and database figures.
// Also a CLI for bench/history.mjs: `node --import tsx test/helpers/history-week.ts STATE_DIR END_ISO`.
import type { AppReport } from '../../src/app/model.js';
import type { DbReport } from '../../src/db/model.js';
import type { ContainerDetails } from '../../src/docker/model.js';
import type { EventKind, Segment } from '../../src/history/model.js';
import { sampleValues, type ContainerReading } from '../../src/history/record.js';
import { appendSample, dayOf, emptySegment, historyDir, writeSegment } from '../../src/history/store.js';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
const GiB = 1024 ** 3;

export interface WeekOptions {
  /** The last run's time; the week runs up to it. */
  endMs: number;
  days?: number;
  stepMs?: number;
  /** Configured containers besides the ones that appear and are removed. */
  containers?: number;
  /** [from, to) where no run happened. */
  gaps?: [number, number][];
  rebootAtMs?: number;
  /** `mizual-new` first seen at this time; `mizual-old` missing from this time on. */
  appearAtMs?: number;
  removeAtMs?: number;
  /** A CPU spike over the threshold: [from, to). */
  spike?: [number, number];
  app?: boolean;
  db?: boolean;
}

function details(name: string, id: string, restartCount: number): ContainerDetails {
  return {
    id,
    name,
    image: 'example/app:1',
    tty: false,
    state: 'running',
    health: 'none',
    restartCount,
    exitCode: 0,
    oomKilled: false,
    startedAt: null,
    finishedAt: null,
    createdAt: null,
    pid: 1,
    memoryLimitBytes: 0,
    logPath: null,
    logDriver: 'json-file',
    logOptions: {},
  };
}

export function appReport(t: number): AppReport {
  const wave = Math.sin(t / (6 * HOUR));
  return {
    window: { since: new Date(t - 5 * MIN).toISOString(), until: new Date(t).toISOString(), seconds: 300 },
    http: [
      {
        source: 'logs',
        container: 'mizual-backend',
        requests: Math.round(600 + 300 * wave),
        status: { '2xx': 590, '3xx': 0, '4xx': 5, '5xx': 5 },
        errorRate: 5 / 600,
        duration: { p50: 0.05, p95: 0.2 + 0.1 * wave, p99: 0.5, max: 1.2 },
        routes: [],
      },
    ],
    tasks: [{ container: 'mizual-celery', task: 'app.send', succeeded: 40, failed: 1, retried: 0, duration: null }],
    rules: [],
    queues: [{ queue: 'celery', length: Math.max(0, Math.round(10 * wave)) }],
    probes: [
      {
        name: 'health',
        url: 'https://example.test/health',
        up: true,
        status: 200,
        seconds: 0.12,
        ttfbSeconds: 0.1,
        certDaysLeft: 60,
        p95HourSeconds: 0.2,
        uptimeDayPercent: 100,
        redirects: 0,
        failedRuns: 0,
        down: false,
      },
    ],
    problems: [],
  };
}

export function dbReport(t: number): DbReport {
  return {
    available: true,
    reason: null,
    server: { version: '15.8' },
    connections: {
      total: 12 + Math.round(4 * Math.sin(t / HOUR)),
      max: 100,
      reserved: 3,
      byState: { active: 2, idle: 10, 'idle in transaction': 0, waiting: 0 },
    },
    oldestTransactionSeconds: 3,
    longQueries: [{ pid: 42, user: 'app', application: 'api', state: 'active', seconds: 41.5, query: 'select ?' }],
    blocked: [],
    statements: { available: false, reason: 'not installed', window: '1h', top: [] },
    sizeBytes: 5e8,
    growthBytesPerDay: null,
    schemas: [],
    tables: [],
    cacheHitRatio: 0.99,
    deadlocks: 0,
    tempBytes: 0,
    wraparound: null,
    sequences: [],
  };
}

/** The segments of the week, oldest first. */
export function weekOfSegments(o: WeekOptions): Segment[] {
  const days = o.days ?? 7;
  const step = o.stepMs ?? 5 * MIN;
  const start = o.endMs - days * DAY + step;
  const names = Array.from({ length: o.containers ?? 8 }, (_, i) => `mizual-c${i}`);
  const byDay = new Map<string, Segment>();
  const segOf = (t: number): Segment => {
    const day = dayOf(t);
    if (!byDay.has(day)) byDay.set(day, emptySegment(day));
    return byDay.get(day) as Segment;
  };
  const event = (t: number, e: [EventKind, string, number]): number => segOf(t).e.push([Math.floor(t / 1000), ...e]);
  let rx = 5e9;
  let tx = 2e9;
  let cpuMs = 1e6;
  let booted = false;
  let appeared = false;
  let removed = false;
  for (let t = start; t <= o.endMs; t += step) {
    if (o.gaps?.some(([a, b]) => t >= a && t < b)) continue;
    if (o.rebootAtMs !== undefined && t >= o.rebootAtMs && !booted) {
      booted = true;
      rx = 1e6;
      tx = 5e5;
      cpuMs = 100;
      event(t, ['reboot', 'host', 1]);
    }
    rx += 2e6 + 1e6 * Math.sin(t / HOUR);
    tx += 5e5;
    cpuMs += 30_000;
    const spike = o.spike && t >= o.spike[0] && t < o.spike[1];
    const readings: ContainerReading[] = names.map((name, i) => ({
      name,
      details: details(name, `${String(i).padStart(2, '0')}`.padEnd(64, 'a'), 0),
      cpuMs: cpuMs * (i + 1),
      memoryBytes: 100e6 * (i + 1) + 1e6 * ((t / step) % 10),
    }));
    if (o.appearAtMs !== undefined && t >= o.appearAtMs) {
      if (!appeared) event(t, ['appeared', 'mizual-new', 1]);
      appeared = true;
      readings.push({ name: 'mizual-new', details: details('mizual-new', 'f'.repeat(64), 0), cpuMs, memoryBytes: 5e7 });
    }
    if (o.removeAtMs !== undefined) {
      const gone = t >= o.removeAtMs;
      if (gone && !removed) event(t, ['removed', 'mizual-old', 1]);
      removed = gone;
      readings.push({
        name: 'mizual-old',
        details: gone ? null : details('mizual-old', 'e'.repeat(64), 0),
        cpuMs: gone ? null : cpuMs,
        memoryBytes: gone ? null : 7e7,
      });
    }
    const values = sampleValues({
      cpuPercent: spike ? 97 : 20 + 10 * Math.sin(t / (3 * HOUR)),
      load: { load1: 0.5, load5: 0.4, load15: 0.3 },
      memory: {
        totalBytes: 2 * GiB,
        availableBytes: GiB - 1e8 * Math.sin(t / DAY),
        usedBytes: GiB,
        usedPercent: 50,
        swapTotalBytes: GiB,
        swapUsedBytes: 1e7,
        swapFreeBytes: GiB - 1e7,
      },
      disks: [
        {
          mount: '/',
          device: '/dev/root',
          fsType: 'ext4',
          totalBytes: 40 * GiB,
          usedBytes: 20 * GiB + ((t - start) / DAY) * GiB,
          availableBytes: 20 * GiB,
          usedPercent: 50 + ((t - start) / DAY) * 2.5,
          inodesTotal: 0,
          inodesUsed: 0,
          inodesUsedPercent: 0,
        },
      ],
      net: [{ iface: 'eth0', rxBytes: Math.round(rx), txBytes: Math.round(tx) }],
      containers: readings,
      ...(o.app ? { app: appReport(t) } : {}),
      ...(o.db ? { db: dbReport(t) } : {}),
    });
    appendSample(segOf(t), Math.floor(t / 1000), values);
  }
  const segments = [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day));
  const last = segments.at(-1);
  if (last) last.last = { bootId: 'boot-2', oomKills: 0, containers: {} };
  return segments;
}

/** Write the week's segments into `<stateDir>/history/`. */
export async function writeWeek(stateDir: string, o: WeekOptions): Promise<Segment[]> {
  const segments = weekOfSegments(o);
  for (const seg of segments) await writeSegment(historyDir(stateDir), seg);
  return segments;
}

if (process.argv[1]?.endsWith('history-week.ts') && process.argv[2]) {
  const endMs = process.argv[3] ? Date.parse(process.argv[3]) : Date.now();
  await writeWeek(process.argv[2], {
    endMs,
    containers: 10,
    app: true,
    db: true,
    gaps: [[endMs - 3 * DAY, endMs - 3 * DAY + 6 * HOUR]],
    rebootAtMs: endMs - 3 * DAY + 6 * HOUR,
  });
}
