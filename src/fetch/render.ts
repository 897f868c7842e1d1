// Human text for mizual-fetch-logs (returned as strings; the command prints them).
import type { CatSummary } from './cat.js';
import type { TimeRange } from './range.js';
import { formatNanoTime } from '../core/time.js';
import type { DownloadOutcome, DownloadProgress, RemoteArchive } from './download.js';
import type { ExtractResult } from './extract.js';
import type { DateHosts } from './list.js';
import type { UsageReport } from './usage.js';
import { formatBytes } from '../core/units.js';

function columns(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell)).join('  '))
    .join('\n');
}

/** `date  hosts` lines for `--list` without `--date`. */
export function renderDates(env: string, dates: DateHosts[]): string {
  if (dates.length === 0) return `no archives for ${env}`;
  return columns([['date', 'hosts'], ...dates.map((d) => [d.date, d.hosts.join(', ')])]);
}

/** `host  archive  size  uploaded` lines and a total for `--list --date`. */
export function renderArchives(archives: RemoteArchive[]): string {
  const total = archives.reduce((sum, a) => sum + a.size, 0);
  const rows = archives.map((a) => [
    a.host,
    a.name,
    formatBytes(a.size),
    a.lastModified.toISOString().replace(/\.\d+Z$/, 'Z'),
  ]);
  return `${columns([['host', 'archive', 'size', 'uploaded'], ...rows])}\n${archives.length} archives, ${formatBytes(total)}`;
}

/** One line per archive fetched or skipped. */
export function renderOutcome(outcome: DownloadOutcome): string {
  const size = formatBytes(outcome.archive.size);
  return outcome.status === 'skipped'
    ? `skipped     ${outcome.file} (${size}, unchanged)`
    : `downloaded  ${outcome.file} (${size})`;
}

/** One line per extracted archive. */
export function renderExtract(result: ExtractResult): string {
  const check = result.verified
    ? result.mismatches.length === 0
      ? 'verified against manifest.json'
      : `${result.mismatches.length} not matching manifest.json`
    : 'no manifest.json to verify against';
  return `extracted   ${result.dir}/ (${result.files.length} files, ${check})`;
}

/** The progress line shown on a terminal while downloading. */
export function renderProgress(p: DownloadProgress, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (p.doneBytes * 1000) / elapsedMs : 0;
  return `fetching ${p.doneFiles}/${p.files} archives  ${formatBytes(p.doneBytes)} of ${formatBytes(p.bytes)}  ${formatBytes(rate)}/s`;
}

/** The `--usage` table: per env and host, then the total and the price it assumes. */
export function renderUsage(report: UsageReport): string {
  if (report.rows.length === 0) return 'no archives in the bucket';
  const cost = (n: number): string => `${n.toFixed(2)} ${report.currency}`;
  const line = (env: string, host: string, r: UsageReport['total']): string[] => [
    env,
    host,
    String(r.objects),
    formatBytes(r.currentBytes),
    String(r.versions),
    formatBytes(r.allBytes),
    `${r.hiddenVersions} (${formatBytes(r.hiddenBytes)})`,
    r.oldestDate && r.newestDate ? `${r.oldestDate} .. ${r.newestDate}` : '-',
    cost(r.monthlyCost),
  ];
  const head = ['env', 'host', 'objects', 'current', 'versions', 'all versions', 'hidden', 'dates', 'per month'];
  const rows = report.rows.map((r) => line(r.env, r.host, r));
  return (
    `${columns([head, ...rows, line('total', '', report.total)])}\n` +
    `cost at ${report.pricePerTb} ${report.currency} per TB-month, on all versions (B2 bills every stored version)`
  );
}

/** The one stderr line when `--cat` printed nothing: what was read and which filters were applied. */
export function renderNothingPrinted(
  s: CatSummary,
  f: { container?: string; grep?: RegExp; range?: TimeRange },
): string {
  const filters = [
    f.container !== undefined ? `--container ${f.container}` : '',
    f.grep ? `--grep ${f.grep.source}` : '',
    f.range ? `lines between ${formatNanoTime(f.range.since)} and ${formatNanoTime(f.range.until)}` : '',
  ].filter(Boolean);
  const read = `read ${s.archives} archives, ${s.files} log files, ${s.lines} lines`;
  return `no line to print: ${read}${filters.length ? `; none left after ${filters.join(', ')}` : ''}`;
}
