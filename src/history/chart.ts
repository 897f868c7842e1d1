/**
 * Terminal charts for `--history`: one per figure, stacked on one time axis, drawn with block
 * characters (or plain ASCII for a cron mail). A column is a slice of time; a column with no sample
 * (the box was off) stays empty in every row; the threshold is a dashed row; events are marked under
 * the axis, one letter per column.
 */
import { columnRanges, formatValue, type HistoryData, type HistoryEvent, type Series } from './series.js';

export interface TextChartOptions {
  /** Terminal columns (the whole line, labels included). */
  width: number;
  sinceMs: number;
  untilMs: number;
  ascii?: boolean;
  color?: boolean;
  /** Rows per chart (each row holds 8 levels with blocks). */
  rows?: number;
  /** Events listed under the charts, newest last (default 40). */
  maxListed?: number;
}

/** Width of the label gutter left of each chart's axis. */
export const GUTTER = 8;
const BLOCKS = ['', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const ASCII_LEVELS = ['', '_', '_', '_', '=', '=', '=', '=', '#'];

/** The column (0-based, within the plot) of a time. */
export function columnOf(t: number, plot: number, sinceMs: number, untilMs: number): number {
  return Math.min(plot - 1, Math.max(0, Math.floor(((t - sinceMs) / Math.max(1, untilMs - sinceMs)) * plot)));
}

const MARKS: [RegExp, string, number][] = [
  [/^CRITICAL$/, 'C', 9],
  [/^oom:/, 'O', 8],
  [/^WARNING$/, 'W', 7],
  [/^reboot:/, 'B', 6],
  [/^restart:/, 'R', 5],
  [/^deploy:/, 'D', 4],
  [/^removed:/, 'x', 3],
  [/^appeared:/, '+', 2],
  [/^RESOLVED$/, 'r', 1],
];

/** The letter marking an event on the axis, and its priority when two share a column. */
export function markOf(e: HistoryEvent): [string, number] {
  for (const [re, mark, rank] of MARKS) if (re.test(e.severity) || re.test(e.check)) return [mark, rank];
  return ['*', 0];
}

function scaleOf(s: Series, cols: readonly (number | undefined)[]): [number, number] {
  const values = cols.filter((v): v is number => v !== undefined);
  let lo = Math.min(0, ...values);
  let hi = Math.max(...values, s.threshold ?? -Infinity, lo);
  if (s.unit === '%' && hi <= 100 && s.threshold !== null) hi = Math.max(hi, 100);
  if (!(hi > lo)) hi = lo + 1;
  if (!Number.isFinite(lo)) lo = 0;
  return [lo, hi];
}

/** One chart: a title line and `rows` rows of cells under a gutter of labels. */
export function renderChart(s: Series, options: TextChartOptions): string[] {
  const rows = options.rows ?? 3;
  const plot = Math.max(10, options.width - GUTTER - 1);
  const { hi: cols, stats: range } = columnRanges(s.line, plot, options.sinceMs, options.untilMs);
  const labels = Object.values(s.labels).join(' ');
  const f = (v: number): string => formatValue(v, s.unit);
  const stats = range ? `min ${f(range.min)}  max ${f(range.max)}  last ${f(range.last)}` : 'no samples';
  const limit = s.threshold === null ? '' : `  threshold ${f(s.threshold)}`;
  const title = `${s.name}${labels ? ` ${labels}` : ''} (${s.unit})  ${stats}${limit}`;
  const [lo, hi] = scaleOf(s, cols);
  const levels = rows * 8;
  const levelOf = (v: number): number => Math.max(1, Math.round(((v - lo) / (hi - lo)) * levels));
  const thresholdRow =
    s.threshold === null
      ? -1
      : rows - 1 - Math.min(rows - 1, Math.floor(((s.threshold - lo) / (hi - lo)) * (levels / 8)));
  const alarming = (v: number): boolean => s.threshold !== null && (s.alertBelow ? v < s.threshold : v > s.threshold);
  const blocks = options.ascii ? ASCII_LEVELS : BLOCKS;
  const dash = options.ascii ? '-' : '╌';
  const red = (text: string): string => (options.color ? `\x1b[31m${text}\x1b[39m` : text);
  const out = [fit(title, options.width)];
  for (let r = 0; r < rows; r++) {
    const floor = (rows - 1 - r) * 8;
    let line = '';
    for (const v of cols) {
      if (v === undefined) {
        line += ' ';
        continue;
      }
      const fill = levelOf(v) - floor;
      let cell = fill >= 8 ? (blocks[8] as string) : fill > 0 ? (blocks[fill] as string) : ' ';
      if (cell === ' ' && thresholdRow === r) cell = dash;
      line += alarming(v) && cell !== ' ' && cell !== dash ? red(cell) : cell;
    }
    const label = r === 0 ? f(hi) : r === rows - 1 ? f(lo) : '';
    out.push(`${label.slice(0, GUTTER - 1).padStart(GUTTER - 1)} ${options.ascii ? '|' : '│'}${line}`);
  }
  return out;
}

/** The time axis: a rule, time labels, and a row of event marks. */
export function renderAxis(events: readonly HistoryEvent[], options: TextChartOptions): string[] {
  const plot = Math.max(10, options.width - GUTTER - 1);
  const { sinceMs, untilMs } = options;
  const span = untilMs - sinceMs;
  const rule = (options.ascii ? '+' : '└') + (options.ascii ? '-' : '─').repeat(plot);
  const labels = new Array<string>(plot + 1).fill(' ');
  const stamp = (t: number): string => {
    const iso = new Date(t).toISOString();
    return span > 2 * 86_400_000 ? `${iso.slice(5, 10)} ${iso.slice(11, 13)}h` : iso.slice(11, 16);
  };
  const every = Math.max(12, stamp(sinceMs).length + 3);
  for (let c = 0; c + stamp(sinceMs).length <= plot; c += every) {
    const text = stamp(sinceMs + (span * c) / plot);
    for (let i = 0; i < text.length; i++) labels[c + i] = text[i] as string;
  }
  const marks = new Array<string>(plot).fill(' ');
  const ranks = new Array<number>(plot).fill(-1);
  for (const e of events) {
    const t = Date.parse(e.time);
    if (!(t >= sinceMs && t <= untilMs)) continue;
    const c = columnOf(t, plot, sinceMs, untilMs);
    const [mark, rank] = markOf(e);
    if (rank > (ranks[c] as number)) [marks[c], ranks[c]] = [mark, rank];
  }
  const pad = ' '.repeat(GUTTER);
  return [
    `${pad}${rule}`,
    `${'UTC'.padStart(GUTTER)} ${labels.join('').trimEnd()}`.slice(0, options.width),
    `${'events'.padStart(GUTTER - 1)} ${options.ascii ? '|' : '│'}${marks.join('')}`.trimEnd(),
  ];
}

function fit(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, Math.max(0, width - 1)) + '…';
}

/** The whole `--history` text: header, the stacked charts, the axis and its legend, and the events listed. */
export function renderHistoryText(data: HistoryData, options: TextChartOptions): string {
  const shown = data.series.filter((s) => !s.hidden);
  const lines: string[] = [
    fit(
      `history ${data.since} .. ${data.until}  (${shown.length} charts, ${data.events.length} events)`,
      options.width,
    ),
  ];
  if (shown.length === 0) {
    lines.push('no samples kept in this range yet: mizual-alerts records one each run (cron, every 5 minutes)');
    for (const e of data.events) lines.push(fit(`${e.time} ${e.severity} ${e.check}: ${e.message}`, options.width));
    return options.ascii ? lines.join('\n').replace(/[^\x00-\x7f]/g, '?') : lines.join('\n');
  }
  const axis = renderAxis(data.events, options);
  lines.push(...axis);
  for (const s of shown) lines.push(...renderChart(s, options));
  lines.push(...axis);
  lines.push(
    fit(
      'marks: C critical  W warning  r resolved  O OOM kill  B reboot  R restart  D deploy  + appeared  x removed',
      options.width,
    ),
  );
  const listed = data.events.slice(-(options.maxListed ?? 40));
  if (listed.length > 0)
    lines.push('', `events${listed.length < data.events.length ? ` (last ${listed.length})` : ''}:`);
  for (const e of listed)
    lines.push(fit(`${e.time} ${markOf(e)[0]} ${e.severity} ${e.check}: ${e.message}`, options.width));
  const text = lines.join('\n');
  // `--ascii` promises plain ASCII: anything else (a mount or message with other characters) becomes `?`.
  return options.ascii ? text.replace(/[^\x00-\x7f]/g, '?') : text;
}
