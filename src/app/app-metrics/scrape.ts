/**
 * Reading an application's own Prometheus endpoint (MIZUAL_APP_METRICS): one GET with a hard deadline
 * and a size cap, the text parsed line by line as it arrives. Only the request-duration histogram
 * (`*_request_duration_seconds` with a route-like label) and `process_start_time_seconds` are kept;
 * every other line is skipped without being parsed.
 */
import http from 'node:http';
import { MizualError } from '../../core/errors.js';

/** The route-like labels, in the order they are preferred (instrumentator, starlette_exporter, others). */
const ROUTE_LABELS = ['handler', 'path', 'route', 'path_template', 'endpoint'];
const STATUS_LABELS = ['status', 'status_code', 'code'];
const SUFFIX = '_request_duration_seconds';
/** Distinct (method, route, status) series past which an answer is cut short (the rest is not read). */
export const MAX_SCRAPED_SERIES = 5_000;

/** One series' cumulative counts: at or below each bound, then the count (+Inf) and the sum. */
export type SeriesCounts = number[];

export interface Scraped {
  /** The histogram family read, e.g. `http_request_duration_seconds`; '' when there is none (yet). */
  family: string;
  /** The finite `le` bounds, ascending. */
  bounds: number[];
  /** `METHOD\troute\tstatus` → counts (other labels summed); status is '' when the histogram has none. */
  series: Map<string, SeriesCounts>;
  /** `process_start_time_seconds`, when the endpoint exposes it. */
  start: number | null;
  /** Whether the histogram carries a status label. */
  hasStatus: boolean;
  /** Series left out past MAX_SCRAPED_SERIES. */
  truncated: boolean;
}

interface RawSeries {
  buckets: Map<number, number>;
  count: number;
  sum: number;
}

/** Parses the exposition text fed in chunks; `result()` once the whole answer is in. */
export class ExpositionReader {
  private carry = '';
  private family: string | null = null;
  private declared: string | null = null;
  private routeLabel = '';
  private statusLabel: string | null = null;
  private readonly raw = new Map<string, RawSeries>();
  private start: number | null = null;
  private truncated = false;

  /** Feed the next piece of the answer. */
  push(chunk: string): void {
    const text = this.carry + chunk;
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      if (nl < 0) break;
      this.line(text.slice(from, nl));
      from = nl + 1;
    }
    this.carry = text.slice(from);
  }

  /** The figures read. */
  result(): Scraped {
    if (this.carry) this.line(this.carry);
    this.carry = '';
    if (this.family === null) {
      // No request observed yet (or no such histogram at all: family ''): an empty reading.
      return {
        family: this.declared ?? '',
        bounds: [],
        series: new Map(),
        start: this.start,
        hasStatus: true,
        truncated: false,
      };
    }
    const bounds = new Set<number>();
    for (const s of this.raw.values()) for (const le of s.buckets.keys()) if (Number.isFinite(le)) bounds.add(le);
    const sorted = [...bounds].sort((a, b) => a - b);
    const series = new Map<string, SeriesCounts>();
    for (const [key, s] of this.raw) {
      // A series missing a bound (never in one registry) reads as the next lower one has it.
      let last = 0;
      const counts = sorted.map((le) => (last = s.buckets.get(le) ?? last));
      counts.push(s.buckets.get(Infinity) ?? s.count, s.sum);
      series.set(key, counts);
    }
    return {
      family: this.family,
      bounds: sorted,
      series,
      start: this.start,
      hasStatus: this.statusLabel !== null,
      truncated: this.truncated,
    };
  }

  private line(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') return;
    if (line[0] === '#') {
      // A declared histogram with no request observed yet (an app just started) is an empty reading.
      const typed = /^# TYPE (\S+_request_duration_seconds) histogram\s*$/.exec(line);
      if (typed && this.declared === null) this.declared = typed[1] as string;
      return;
    }
    let nameEnd = 0;
    while (nameEnd < line.length && line[nameEnd] !== '{' && line[nameEnd] !== ' ') nameEnd++;
    const name = line.slice(0, nameEnd);
    if (name === 'process_start_time_seconds') {
      const v = sampleValue(line, nameEnd);
      if (v !== null && this.start === null) this.start = v;
      return;
    }
    const kind = name.endsWith('_bucket')
      ? 'bucket'
      : name.endsWith('_count')
        ? 'count'
        : name.endsWith('_sum')
          ? 'sum'
          : null;
    if (kind === null) return;
    const family = name.slice(0, name.length - kind.length - 1);
    if (!family.endsWith(SUFFIX)) return;
    if (this.family !== null && family !== this.family) return;
    const parsed = parseLabels(line, nameEnd);
    if (!parsed) return;
    const { labels, end } = parsed;
    if (this.family === null) {
      // The first request-duration histogram with a route-like label is the one read.
      const routeLabel = ROUTE_LABELS.find((l) => labels.has(l));
      if (!routeLabel) return;
      this.family = family;
      this.routeLabel = routeLabel;
      this.statusLabel = STATUS_LABELS.find((l) => labels.has(l)) ?? null;
    }
    const value = sampleValue(line, end);
    if (value === null) return;
    const route = labels.get(this.routeLabel) ?? '';
    const method = (labels.get('method') ?? '*').toUpperCase();
    const status = this.statusLabel ? (labels.get(this.statusLabel) ?? '') : '';
    const key = `${method}\t${route}\t${status}`;
    let s = this.raw.get(key);
    if (!s) {
      if (this.raw.size >= MAX_SCRAPED_SERIES) {
        this.truncated = true;
        return;
      }
      this.raw.set(key, (s = { buckets: new Map(), count: 0, sum: 0 }));
    }
    // Other labels (app_name, instance…) are summed over.
    if (kind === 'count') s.count += value;
    else if (kind === 'sum') s.sum += value;
    else {
      const le = labels.get('le');
      const bound = le === '+Inf' ? Infinity : Number(le);
      if (le === undefined || Number.isNaN(bound)) return;
      s.buckets.set(bound, (s.buckets.get(bound) ?? 0) + value);
    }
  }
}

/** The labels of a sample line from `at` (a `{` or a space), and where the value starts. */
function parseLabels(line: string, at: number): { labels: Map<string, string>; end: number } | null {
  const labels = new Map<string, string>();
  if (line[at] !== '{') return { labels, end: at };
  let i = at + 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq < 0 || line[eq + 1] !== '"') return null;
    const key = line.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        const next = line[++j];
        value += next === 'n' ? '\n' : (next ?? '');
      } else value += line[j];
    }
    if (j >= line.length) return null;
    labels.set(key, value);
    i = j + 1;
  }
}

function sampleValue(line: string, from: number): number | null {
  const text = line.slice(from).trim().split(/\s+/)[0] ?? '';
  if (text === '') return null;
  const v = text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
  return Number.isNaN(v) ? null : v;
}

export interface ScrapeOptions {
  timeoutMs: number;
  /** An answer larger than this is an error (the endpoint is not what we think it is). */
  maxBytes: number;
  /** Where to connect instead of the URL's host (a Compose name dialled); Host and TLS keep the URL's. */
  connect?: { host: string; port: number };
}

/** GET the endpoint and parse its answer as it arrives; rejects with one line (no credentials in it). */
export async function scrapeHistograms(url: string, options: ScrapeOptions): Promise<Scraped> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? (await import('node:https')).default : http;
  const auth = target.username
    ? `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`
    : undefined;
  return new Promise((resolve, reject) => {
    let settled = false;
    const reader = new ExpositionReader();
    const done = (err: Error | null, value?: Scraped): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (err || !value) reject(err ?? new MizualError('no answer'));
      else resolve(value);
    };
    const req = transport.request(
      {
        protocol: target.protocol,
        host: options.connect?.host ?? target.hostname.replace(/^\[|\]$/g, ''),
        port: options.connect?.port ?? (target.port || undefined),
        ...(options.connect && target.protocol === 'https:' ? { servername: target.hostname } : {}),
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        auth,
        agent: false,
        // The classic text format: prometheus_client answers OpenMetrics only when asked for it.
        headers: {
          Accept: 'text/plain;version=0.0.4',
          'User-Agent': 'mizual-monitoring',
          ...(options.connect ? { Host: target.host } : {}),
        },
      },
      (res) => {
        if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) {
          res.resume();
          return done(new MizualError(`HTTP ${res.statusCode ?? '?'}`));
        }
        let bytes = 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          bytes += Buffer.byteLength(chunk);
          if (bytes > options.maxBytes) {
            return done(new MizualError(`answer larger than ${Math.round(options.maxBytes / 1_048_576)} MiB`));
          }
          reader.push(chunk);
        });
        res.on('end', () => done(null, reader.result()));
        res.on('error', (err) => done(err));
        res.on('close', () => (res.complete ? undefined : done(new MizualError('connection closed mid-answer'))));
      },
    );
    const timer = setTimeout(
      () => done(new MizualError(`no complete answer within ${options.timeoutMs / 1000} s`)),
      options.timeoutMs,
    );
    req.on('error', (err: NodeJS.ErrnoException) => done(new MizualError(err.code ?? err.message)));
    req.end();
  });
}
