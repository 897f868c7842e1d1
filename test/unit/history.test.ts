import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { formatAlertLine, parseAlertLine } from '../../src/alerts/log.js';
import { diskForecastChecks } from '../../src/alerts/checks/trends.js';
import { checkAlerts } from '../../src/commands/alerts.js';
import { gatherHistory } from '../../src/commands/metrics-history.js';
import { DEFAULT_THRESHOLDS } from '../../src/core/thresholds.js';
import { emptyTrends } from '../../src/core/trends.js';
import { columnOf, GUTTER, renderHistoryText } from '../../src/history/chart.js';
import { renderHistoryHtml } from '../../src/history/html.js';
import { recordRun, sampleValues } from '../../src/history/record.js';
import { buildSeries, storedEvents, type HistoryData } from '../../src/history/series.js';
import { sparkline } from '../../src/history/sparkline.js';
import { historyDir, loadHistory, loadRecentHistory, trendsFromHistory } from '../../src/history/store.js';
import { appReport, DAY, dbReport, HOUR, MIN, weekOfSegments, writeWeek } from '../helpers/history-week.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'mizual-history-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const stateDir = (): string => path.join(tmp, `state-${++n}`);

const END = Date.parse('2026-12-02T12:00:00Z');
const SINCE = END - 7 * DAY;
const GAP: [number, number] = [END - 4 * DAY, END - 4 * DAY + 8 * HOUR];
const REBOOT = END - 3 * DAY;
const APPEAR = END - 2 * DAY;
const REMOVE = END - 5 * DAY;
const SPIKE: [number, number] = [END - DAY, END - DAY + 2 * HOUR];
const ALERT_AT = END - DAY + 10 * MIN;

function week(width: number, ascii = false) {
  const segments = weekOfSegments({
    endMs: END,
    containers: 2,
    gaps: [GAP],
    rebootAtMs: REBOOT,
    appearAtMs: APPEAR,
    removeAtMs: REMOVE,
    spike: SPIKE,
  });
  const alert = {
    time: new Date(ALERT_AT).toISOString().replace('.000Z', 'Z'),
    severity: 'WARNING',
    check: 'cpu',
    message: 'cpu 97% busy',
  };
  const data: HistoryData = {
    since: new Date(SINCE).toISOString(),
    until: new Date(END).toISOString(),
    series: buildSeries(segments, SINCE, END, DEFAULT_THRESHOLDS),
    events: [...storedEvents(segments, SINCE, END), alert].sort((a, b) => Date.parse(a.time) - Date.parse(b.time)),
  };
  const text = renderHistoryText(data, { width, sinceMs: SINCE, untilMs: END, ascii });
  return { segments, data, lines: text.split('\n'), text };
}

/** The rows of the chart whose title starts with `title` (the title line excluded). */
function chartRows(lines: string[], title: string, rows = 3): string[] {
  const at = lines.findIndex((l) => l.startsWith(title));
  assert.ok(at >= 0, `no chart titled ${title}`);
  return lines.slice(at + 1, at + 1 + rows);
}
/** The plot cells of a chart row (after the gutter and the axis character). */
const cells = (row: string): string[] => [...row].slice(GUTTER + 1);

describe('a week of samples in fake time, drawn in the terminal', () => {
  const width = 120;
  const plot = width - GUTTER - 1;
  const col = (t: number): number => columnOf(t, plot, SINCE, END);
  const { lines, data } = week(width);

  it('marks the reboot, the appeared and removed containers and the alert in their columns on the events row', () => {
    const events = lines.find((l) => l.trimStart().startsWith('events │')) as string;
    const marks = cells(events.padEnd(width));
    assert.equal(marks[col(REBOOT)], 'B');
    assert.equal(marks[col(APPEAR)], '+');
    assert.equal(marks[col(REMOVE)], 'x');
    assert.equal(marks[col(ALERT_AT)], 'W');
    assert.equal(marks.filter((m) => m !== ' ').length, 4, 'no other mark');
  });

  it('leaves every cell of the gap empty in every chart, and draws on both sides of it', () => {
    for (const title of ['cpu (%)', 'memory available', 'network in eth0', 'container memory mizual-c0']) {
      const rows = chartRows(lines, title);
      for (let c = col(GAP[0]) + 1; c < col(GAP[1]); c++) {
        for (const row of rows) assert.equal(cells(row)[c], ' ', `${title}: column ${c} inside the gap`);
      }
      const bottom = cells(rows[2] as string);
      assert.notEqual(bottom[col(GAP[0]) - 2], ' ', `${title}: drawn before the gap`);
      assert.notEqual(bottom[col(GAP[1]) + 2], ' ', `${title}: drawn after the gap`);
    }
  });

  it('shows no negative spike at the reboot: the line breaks at the counter reset and goes on after it', () => {
    const rx = data.series.find((s) => s.key === 'net.rx|eth0');
    assert.ok(rx);
    const values = rx.points.map((p) => p[1]).filter((v): v is number => v !== null);
    assert.ok(values.length > 1000);
    assert.ok(
      values.every((v) => v >= 0),
      'no negative rate',
    );
    assert.equal(rx.points.find(([t]) => t === REBOOT)?.[1], null, 'the first reading after the reboot is a break');
    assert.ok((rx.points.find(([t]) => t === REBOOT + 5 * MIN)?.[1] ?? -1) > 0, 'a rate again from the next run');
    const cpu = data.series.find((s) => s.key === 'ctr.cpu|mizual-c0');
    assert.ok(cpu?.points.every(([, v]) => v === null || v >= 0));
  });

  it('draws the container that appeared only after it appeared, and the removed one only before', () => {
    const fresh = chartRows(lines, 'container memory mizual-new').map(cells);
    const gone = chartRows(lines, 'container memory mizual-old').map(cells);
    for (let c = 0; c < plot; c++) {
      const freshDrawn = fresh.some((row) => row[c] !== ' ' && row[c] !== '╌');
      const goneDrawn = gone.some((row) => row[c] !== ' ' && row[c] !== '╌');
      if (c < col(APPEAR)) assert.equal(freshDrawn, false, `mizual-new drawn at ${c} before it appeared`);
      if (c > col(APPEAR)) assert.equal(freshDrawn, true, `mizual-new missing at ${c}`);
      if (c > col(REMOVE)) assert.equal(goneDrawn, false, `mizual-old drawn at ${c} after its removal`);
      if (c < col(REMOVE) - 1) assert.equal(goneDrawn, true, `mizual-old missing at ${c}`);
    }
  });

  it('draws the threshold as a dashed row, crossed by the CPU spike', () => {
    const rows = chartRows(lines, 'cpu (%)').map(cells);
    const spike = col(SPIKE[0]) + 1;
    assert.match(rows[0]?.[spike] ?? '', /^[▁▂▃▄▅▆▇█]$/, 'the spike reaches the top row');
    assert.equal(rows[0]?.[spike - 20], '╌', 'the threshold row elsewhere');
    assert.match(lines.find((l) => l.startsWith('cpu (%)')) ?? '', /max 97\.0%.*threshold 80\.0%/);
  });

  it('fits the width, and --ascii is plain ASCII with the same marks', () => {
    for (const w of [80, 200]) {
      const { lines: ls } = week(w);
      assert.ok(
        ls.every((l) => [...l].length <= w),
        `a line wider than ${w}`,
      );
    }
    const ascii = week(width, true);
    assert.ok([...Buffer.from(ascii.text)].every((b) => b < 0x80));
    const events = ascii.lines.find((l) => l.trimStart().startsWith('events |')) as string;
    assert.equal(cells(events.padEnd(width))[col(REBOOT)], 'B');
  });
});

describe('the store', () => {
  it('keeps 7 days of 5-minute samples with ten containers and the app and database figures under 4 MiB, private', async () => {
    const dir = stateDir();
    const end = Date.parse('2026-12-02T23:55:00Z');
    await writeWeek(dir, { endMs: end, containers: 10, app: true, db: true });
    const files = readdirSync(historyDir(dir));
    const bytes = files.reduce((sum, f) => sum + statSync(path.join(historyDir(dir), f)).size, 0);
    assert.ok(files.length >= 7);
    assert.ok(bytes < 4 * 1024 * 1024, `${bytes} bytes`);
    // A real sample holds every figure (the app and db ones too), so the bound is measured on full samples.
    const { segments } = await loadHistory(dir);
    const keys = Object.keys(segments.at(-1)?.s ?? {});
    for (const k of ['app.p95|mizual-backend', 'queue|celery', 'db.longest', 'ctr.cpu|mizual-c9', 'probe|health']) {
      assert.ok(keys.includes(k), k);
    }
    for (const column of Object.values(segments.at(-1)?.s ?? {})) {
      assert.ok(
        column.every((v) => v === null || Number.isInteger(v)),
        'values are stored as integers',
      );
    }
    assert.equal(statSync(historyDir(dir)).mode & 0o777, 0o700);
    for (const f of files) assert.equal(statSync(path.join(historyDir(dir), f)).mode & 0o777, 0o600);
  });

  it('records the application and database figures when given, and none when not', () => {
    const base = { cpuPercent: 5, load: null, memory: null, disks: null, net: null, containers: null };
    const t = Date.parse('2026-12-02T10:00:00Z');
    const v = sampleValues({ ...base, app: appReport(t), db: dbReport(t) });
    assert.equal(v['app.rps|mizual-backend'], Math.round((appReport(t).http[0]!.requests / 300) * 1000) / 1000);
    assert.equal(v['app.5xx|mizual-backend'], 0.8);
    assert.equal(v['task.failed|mizual-celery'], 1);
    assert.equal(v['probe|health'], 0.12);
    assert.equal(v['db.conn'], dbReport(t).connections?.total);
    assert.equal(v['db.longest'], 41.5);
    assert.deepEqual(Object.keys(sampleValues(base)), ['cpu']);
    const down = { ...dbReport(t), available: false, connections: null };
    assert.equal(sampleValues({ ...base, db: down })['db.conn'], undefined);
  });

  it('is where the disk forecast reads its samples: a day of runs through recordRun gives the real growth', async () => {
    const dir = stateDir();
    const GiB = 1024 ** 3;
    const start = Date.parse('2026-12-01T20:00:00Z');
    let forecast;
    for (let t = start; t <= start + 8 * HOUR; t += 5 * MIN) {
      const history = await loadRecentHistory(dir);
      const before = history.segments.length > 0 ? trendsFromHistory(history.segments, t) : emptyTrends();
      const used = 10 * GiB + ((t - start) / DAY) * 2 * GiB;
      const disk = {
        mount: '/',
        device: '/dev/root',
        fsType: 'ext4',
        totalBytes: 40 * GiB,
        usedBytes: used,
        availableBytes: 40 * GiB - used,
        usedPercent: 25,
        inodesTotal: 0,
        inodesUsed: 0,
        inodesUsedPercent: 0,
      };
      forecast = diskForecastChecks(before.disks, [disk], t, 7);
      const readings = { cpuPercent: 1, load: null, memory: null, disks: [disk], net: null, containers: null };
      await recordRun(history, { nowMs: t, readings, before, after: { ...before, disks: forecast.disks }, days: 7 });
    }
    const data = forecast?.observations[0]?.data as { bytesPerDay: number };
    assert.ok(Math.abs(data.bytesPerDay - 2 * GiB) < 1024 ** 2, `${data.bytesPerDay} bytes/day`);
    const { segments } = await loadHistory(dir);
    assert.deepEqual(
      segments.map((s) => s.day),
      ['2026-12-01', '2026-12-02'],
      'a segment per UTC day',
    );
    assert.equal(segments.flatMap((s) => s.t).length, 97);
  });

  it('keeps network counters exact: a quiet interface never reads as a reset in the view the checks use', async () => {
    const dir = stateDir();
    const net = [{ iface: 'eth0', rxBytes: 1_073_741_823, txBytes: 5_000_000_001 }];
    const readings = { cpuPercent: 1, load: null, memory: null, disks: null, net, containers: null };
    for (const t of [END - 10 * MIN, END - 5 * MIN]) {
      const history = await loadRecentHistory(dir);
      const trends = emptyTrends();
      await recordRun(history, { nowMs: t, readings, before: trends, after: trends, days: 7 });
    }
    const view = trendsFromHistory((await loadRecentHistory(dir)).segments, END);
    assert.equal(view.net['eth0']?.rxBytes, 1_073_741_823);
    assert.deepEqual(view.net['eth0']?.intervals, [[END - 10 * MIN, END - 5 * MIN, 0, 0]]);
  });

  it('removes segments older than MIZUAL_HISTORY_DAYS', async () => {
    const dir = stateDir();
    await writeWeek(dir, { endMs: END, containers: 1 });
    const history = await loadRecentHistory(dir);
    const readings = { cpuPercent: 1, load: null, memory: null, disks: null, net: null, containers: null };
    const trends = emptyTrends();
    await recordRun(history, { nowMs: END + 5 * MIN, readings, before: trends, after: trends, days: 2 });
    assert.deepEqual(readdirSync(historyDir(dir)).sort(), ['2026-11-30.json', '2026-12-01.json', '2026-12-02.json']);
  });

  it('reads a segment of a newer version: what it knows, leaving unknown figures and fields aside', async () => {
    const dir = stateDir();
    mkdirSync(historyDir(dir), { recursive: true });
    const t0 = Math.floor(END / 1000);
    const newer = {
      format: 'mizual-history',
      version: 2,
      day: '2026-12-02',
      t: [t0 - 600, t0 - 300, t0],
      s: { cpu: [125, 'n/a', 140], 'gpu.temp|0': [60, 61, 62] },
      e: [[t0, 'reboot', 'host', 1], [t0, 'future-kind', 'x', 1, 'extra'], 'junk'],
      last: null,
      compression: 'none',
    };
    writeFileSync(path.join(historyDir(dir), '2026-12-02.json'), JSON.stringify(newer));
    writeFileSync(path.join(historyDir(dir), '2026-12-01.json'), '{ half');
    const loaded = await loadHistory(dir);
    assert.equal(loaded.segments.length, 1);
    assert.match(loaded.problems[0] ?? '', /2026-12-01\.json: invalid JSON.*skipped/);
    const series = buildSeries(loaded.segments, END - HOUR, END, DEFAULT_THRESHOLDS);
    assert.deepEqual(
      series.map((s) => s.key),
      ['cpu'],
    );
    assert.deepEqual(series[0]?.points, [
      [(t0 - 600) * 1000, 12.5],
      [(t0 - 300) * 1000, null],
      [t0 * 1000, 14],
    ]);
  });
});

describe('a state written by the version before the history', () => {
  it('is read by this one: the first run migrates its disk samples and counters, with no error', async () => {
    const dir = stateDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    copyFileSync(
      path.join(import.meta.dirname, '../fixtures/history/alerts-state-0.1.0.json'),
      path.join(dir, 'alerts-state.json'),
    );
    const env = { MIZUAL_STATE_DIR: dir, MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log') };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      // Before any run of this version: --history shows what the old state kept.
      const old = await gatherHistory({ since: '2026-12-01 07:00', until: '2026-12-01 09:00' });
      const fs = old.series.find((s) => s.key === 'fs.used|/');
      assert.equal(fs?.points.length, 3);
      assert.deepEqual(old.problems, []);
      const report = await checkAlerts({
        noDocker: true,
        flags: { '--cpu-sample': '0' },
        now: new Date('2026-12-01T08:45:00Z'),
      });
      assert.deepEqual(
        report.diagnostics.filter((d) => !/webhook/.test(d)),
        [],
      );
      // The network check measured across the migration: an interval from the old counters to now.
      assert.ok(report.checks.some((c) => c.check.startsWith('net-in:') && c.status === 'ok' && c.value !== null));
      const state = JSON.parse(readFileSync(path.join(dir, 'alerts-state.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(state['trends'], undefined, 'the samples live in the history alone');
      const { segments } = await loadHistory(dir);
      const used = segments.flatMap((s) => (s.s['fs.used|/'] ?? []).filter((v) => v !== null));
      assert.equal(used.length, 4, 'three migrated disk samples and this run');
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});

describe('pieces', () => {
  it('reads back the alert lines mizual-alerts writes, and the old scripts', () => {
    const at = new Date('2026-11-25T09:40:12Z');
    assert.deepEqual(parseAlertLine(formatAlertLine(at, 'CRITICAL', 'disk:/var/lib', 'disk 95% used')), {
      timeMs: at.getTime(),
      severity: 'CRITICAL',
      check: 'disk:/var/lib',
      message: 'disk 95% used',
    });
    assert.equal(parseAlertLine('[Thu Jan 23 14:30:00 UTC 2025] WARNING: memory 91%')?.severity, 'WARNING');
    assert.equal(parseAlertLine('2026-11-25T09:40:12Z hello'), null);
  });

  it('draws a last-hour sparkline with a blank where no sample was kept', () => {
    const now = END;
    const pts: [number, number | null][] = [];
    for (let i = 11; i >= 0; i--) pts.push([now - i * 5 * MIN, i === 5 ? null : 11 - i]);
    const line = sparkline(pts, now);
    assert.equal([...line].length, 12);
    assert.equal([...line][6], ' ');
    assert.equal([...line][0], '▁');
    assert.equal([...line][11], '█');
    assert.equal(sparkline([], now), '');
  });

  it('writes a page of 7 days with ten containers under 1 MiB that loads nothing from anywhere', () => {
    const segments = weekOfSegments({ endMs: END, containers: 10, app: true, db: true });
    const data: HistoryData = {
      since: new Date(SINCE).toISOString(),
      until: new Date(END).toISOString(),
      series: buildSeries(segments, SINCE, END, DEFAULT_THRESHOLDS),
      events: storedEvents(segments, SINCE, END),
    };
    const html = renderHistoryHtml(data, { sinceMs: SINCE, untilMs: END });
    assert.ok(Buffer.byteLength(html) < 1024 * 1024, `${Buffer.byteLength(html)} bytes`);
    assert.match(html, /default-src 'none'/);
    assert.doesNotMatch(html, /\b(src|href)\s*=|url\(|@import|https?:\/\/(?!example\.test)/i);
    assert.equal((html.match(/<svg /g) ?? []).length, data.series.filter((s) => !s.hidden).length);
  });
});
