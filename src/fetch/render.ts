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

/** The `--usage` report: per env and host its figures and containers, then the patterns and the prices used. */
export function renderUsage(report: UsageReport): string {
  const cost = (n: number): string => `${n.toFixed(2)} ${report.currency}`;
  const out: string[] = [];
  if (report.hosts.length === 0) out.push('no archives in the bucket');
  for (const h of report.hosts) {
    out.push(
      `${h.env}/${h.host}: ${formatBytes(h.bytes)} stored in ${h.versions} versions` +
        (h.oldestDate && h.newestDate ? ` (${h.oldestDate} .. ${h.newestDate})` : ''),
      `  added per day: ${formatBytes(h.perDay7)} (last 7 days), ${formatBytes(h.perDay30)} (last 30 days)`,
      `  steady state at ${report.retentionDays} days: ${formatBytes(h.steadyStateBytes)}, ${cost(h.monthlyCost)} a month; this month so far ${cost(h.monthSoFar)}`,
      `  hidden versions: ${h.hiddenVersions} (${formatBytes(h.hiddenVersionBytes)}); unfinished uploads: ${h.unfinishedUploads.count} (${formatBytes(h.unfinishedUploads.bytes)})`,
    );
    const rows = h.containers.map((c) => [
      `  ${c.name}`,
      formatBytes(c.bytes),
      `${(c.share * 100).toFixed(1)}%`,
      `${formatBytes(c.perDay7)}/day`,
    ]);
    if (rows.length > 0) out.push(columns([['  container', 'stored', 'share', 'last 7 days'], ...rows]));
  }
  if (report.patterns) {
    out.push('', 'top line shapes by bytes (as shipped, before compression):');
    for (const p of report.patterns) {
      out.push(
        `  ${p.host} ${p.container} ${(p.share * 100).toFixed(1)}% (${formatBytes(p.perDay * 30)} a month, ${p.lines} lines): ${p.shape}`,
      );
    }
    for (const host of report.patternsMissing ?? [])
      out.push(`  ${host}: no patterns stored yet (the shipper stores them)`);
  }
  if (report.hosts.length > 1) {
    out.push(
      `total: ${formatBytes(report.total.bytes)} stored, steady state ${formatBytes(report.total.steadyStateBytes)}, ${cost(report.total.monthlyCost)} a month, ${cost(report.total.monthSoFar)} this month so far`,
    );
  }
  out.push(
    `prices used: ${report.prices.pricePerTb} ${report.currency} per TB-month (--price-per-tb), the first ${report.prices.freeGb} GB free; ` +
      `every stored version and unfinished upload counts (B2 bills them); retention ${report.retentionDays} days (MIZUAL_RETENTION_DAYS)`,
  );
  return out.join('\n');
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
