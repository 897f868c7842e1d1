// `mizual-metrics --history`: the kept samples and the alert log's events over a time range, as terminal
// charts, one HTML page or JSON. Loaded only when --history is given.
import { promises as fsp } from 'node:fs';
import { readAlertEvents } from '../alerts/log.js';
import { loadConfig } from '../core/config.js';
import { describeError, MizualError, UsageError } from '../core/errors.js';
import { shouldColor, writeJson, writeText } from '../core/output.js';
import { resolveThresholds } from '../core/thresholds.js';
import { nanoToMs, parseTimeArg } from '../core/time.js';
import { readAlertTrends } from '../core/trends.js';
import { buildSeries, storedEvents, type HistoryData, type HistoryEvent } from '../history/series.js';
import { loadHistoryRange, segmentsFromTrends } from '../history/store.js';

export interface HistoryOptions {
  envFile?: string;
  since?: string;
  until?: string;
  cpu?: string;
  memory?: string;
  disk?: string;
  /** The time `--since 6h` counts back from (tests inject it). */
  nowMs?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The series and events of the range (default: the last 24 hours). Prints nothing. */
export async function gatherHistory(options: HistoryOptions): Promise<HistoryData & { problems: string[] }> {
  const config = loadConfig({ envFileFlag: options.envFile });
  const nowMs = options.nowMs ?? Date.now();
  const sinceMs = nanoToMs(parseTimeArg(options.since ?? '24h', '--since', nowMs));
  const untilMs = options.until === undefined ? nowMs : nanoToMs(parseTimeArg(options.until, '--until', nowMs));
  if (sinceMs >= untilMs) throw new UsageError(`--since must be earlier than --until`);
  const loaded = await loadHistoryRange(config.stateDir, sinceMs, untilMs);
  let segments = loaded.segments;
  if (loaded.days.length === 0) {
    // No history yet: what an older version kept in the alert state still shows.
    const legacy = await readAlertTrends(config.stateDir);
    if (legacy) segments = segmentsFromTrends(legacy);
  }
  const series = buildSeries(segments, sinceMs, untilMs, resolveThresholds(options, config));
  const alerts = await readAlertEvents(config.alertLog, sinceMs, untilMs);
  const events: HistoryEvent[] = [
    ...alerts.map((e) => ({ time: iso(e.timeMs), severity: e.severity, check: e.check, message: e.message })),
    ...storedEvents(segments, sinceMs, untilMs),
  ].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  return { since: iso(sinceMs), until: iso(untilMs), series, events, problems: loaded.problems };
}

export interface ShowOptions extends HistoryOptions {
  json?: boolean;
  ascii?: boolean;
  html?: string;
}

/** Print (or write) the history; returns the exit code. */
export async function showHistory(options: ShowOptions): Promise<number> {
  if (options.json && options.html) throw new UsageError('choose one of --json and --html');
  const data = await gatherHistory(options);
  for (const p of data.problems) process.stderr.write(`mizual-metrics: ${p}\n`);
  const range = { sinceMs: Date.parse(data.since), untilMs: Date.parse(data.until) };
  if (options.json) {
    writeJson({
      since: data.since,
      until: data.until,
      series: data.series.map((s) => ({
        name: s.name,
        labels: s.labels,
        unit: s.unit,
        threshold: s.threshold,
        points: s.points,
      })),
      events: data.events,
    });
    return 0;
  }
  if (options.html) {
    const { renderHistoryHtml } = await import('../history/html.js');
    await fsp.writeFile(options.html, renderHistoryHtml(data, range), { mode: 0o600 }).catch((err: unknown) => {
      throw new MizualError(`cannot write ${options.html}: ${describeError(err)}`);
    });
    process.stderr.write(`mizual-metrics: wrote ${options.html}\n`);
    return 0;
  }
  const { renderHistoryText } = await import('../history/chart.js');
  const width = Math.max(40, process.stdout.columns || 80);
  writeText(renderHistoryText(data, { ...range, width, ascii: options.ascii, color: !options.ascii && shouldColor() }));
  return 0;
}
