/**
 * One container's log lines through the parsing programs into the tally: json-file entries read in
 * place (the log value still escaped, its time read from the end of the entry), or the Engine API's
 * `<RFC 3339 stamp> <line>` form. A line is dispatched on cheap byte checks; only lines that are not
 * request lines (JSON, Celery, user rules) become strings.
 */
import { newRequestLine, parseCeleryLine, parseJsonRequest, parseRequestLine, type TaskEvent } from './formats.js';
import { collapseRoute, maskLine } from './routes.js';
import { matchRules, type AppRule, type RuleMatch } from './rules.js';
import { countHttp, NOT_FOUND_ROUTE, type Histogram, type HttpSeries, type LineCounts, type Tally } from './tally.js';

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ESC = 0x1b;
const TASK = Buffer.from('Task ');
const TIME_LIMIT = Buffer.from(' time limit (');
const ESC_ESCAPED = Buffer.from('\\u001b');
const STREAM_KEY = Buffer.from('","stream":"');
/** Route cache entries past which it starts again (paths with ids in them are unbounded). */
const MAX_CACHED_ROUTES = 20_000;
/** Of a line longer than this (joined from Docker's 16 KiB pieces), only the start is parsed. */
const MAX_JOINED = 64 * 1024;
/** The series key of requests whose request line is no request, or whose method is made up. */
const ODD_KEY = 'OTHER other';

interface RouteEntry {
  check: number;
  key: string;
  series: HttpSeries;
  minute: number;
  /** A 404 counted under `404 other`: a later request with another status is resolved again. */
  notFound: boolean;
  /** Counted under `other` this run: its requests weigh it for a later run. */
  contender: { n: number } | null;
}

export interface ScannerOptions {
  /** Seconds per unit of a bare trailing integer on access lines (from the container's command), else null. */
  bareScale?: number | null;
}

export class LineScanner {
  private readonly req;
  /** Request-line hash → its route key (`METHOD route`) and the series of the minute it was last counted in. */
  private readonly routes = new Map<number, RouteEntry>();
  /** The first 16 bytes (`YYYY-MM-DDTHH:MM`) of the last line's time, and its minute. */
  private readonly minuteText = Buffer.alloc(16);
  private minuteValue = -1;
  /** The current bucket's line counters of this container. */
  private counts: LineCounts = { r: 0, u: 0 };
  private hist: Histogram | null = null;
  /** Docker's pieces of a line over 16 KiB (no `\\n` yet), per stream (index 0 stdout, 1 stderr). */
  private readonly pieces: (Buffer[] | null)[] = [null, null];
  private readonly pieceBytes = [0, 0];
  /** Entries that were not json-file lines. */
  unreadable = 0;
  lines = 0;
  /** Lines no parsing program or rule recognised. */
  unrecognised = 0;
  /** Access lines ending in a bare number whose unit the format does not say (no duration taken). */
  ambiguous = 0;
  /** Celery worker lines read (the container is a worker). */
  celeryLines = 0;
  /** The shape of the first unrecognised line (masked: no value of it). */
  sample: string | null = null;
  private second = 0;
  /** When the last line read was written (ms since the epoch, to the second), or -1. */
  get lastLineMs(): number {
    return this.minuteValue === -1 ? -1 : this.minuteValue * 60_000 + this.second * 1000;
  }

  constructor(
    private readonly tally: Tally,
    private readonly container: string,
    private readonly rules: AppRule[],
    options: ScannerOptions = {},
  ) {
    this.req = newRequestLine(options.bareScale ?? null);
  }

  /** The json-file entries in `buf[start, end)` (`end` just after a newline). */
  jsonFile(buf: Buffer, start: number, end: number): void {
    let p = start;
    while (p < end) {
      let nl = buf.indexOf(NEWLINE, p);
      if (nl === -1 || nl > end) nl = end;
      if (nl > p) this.jsonFileLine(buf, p, nl);
      p = nl + 1;
    }
  }

  /** The `<stamp> <line>` lines of the Engine API in `buf[start, end)`. */
  stamped(buf: Buffer, start: number, end: number): void {
    let p = start;
    while (p < end) {
      let nl = buf.indexOf(NEWLINE, p);
      if (nl === -1 || nl > end) nl = end;
      if (nl - p > 31 && buf[p + 10] === 0x54 && this.setMinute(buf, p)) {
        let e = nl;
        if (buf[e - 1] === 0x0d) e--;
        const sp = buf.indexOf(0x20, p);
        this.lines++;
        this.text(buf, sp + 1, e, false);
      } else if (nl > p) {
        this.unreadable++;
      }
      p = nl + 1;
    }
  }

  private jsonFileLine(buf: Buffer, s: number, e: number): void {
    while (s < e && buf[s] === 0) s++; // a NUL-filled tail after a host crash
    if (e - s < 40 || buf[s] !== 0x7b || buf[s + 2] !== 0x6c || buf[s + 7] !== QUOTE || buf[e - 2] !== QUOTE) {
      return this.slowEntry(buf, s, e);
    }
    // Docker's nine fraction digits put the time's opening quote 33 bytes from the end; else look for it.
    let tq = e - 33;
    if (buf[tq] !== QUOTE) {
      tq = e - 3;
      const stop = Math.max(s, e - 48);
      while (tq > stop && buf[tq] !== QUOTE) tq--;
    }
    const t = tq - 7; // `"time":"`
    if (buf[t] !== QUOTE || buf[t + 1] !== 0x74 || buf[t + 6] !== 0x3a) return this.slowEntry(buf, s, e);
    const k =
      buf[t - 1] === 0x2c && buf[t - 2] === QUOTE && buf[t - 10] === 0x3a ? t - 19 : buf.lastIndexOf(STREAM_KEY, t);
    if (k < s + 8 || buf[k - 1] !== QUOTE || buf[k + 1] !== QUOTE) return this.slowEntry(buf, s, e);
    if (!this.setMinute(buf, tq + 1)) return this.slowEntry(buf, s, e);
    let le = k - 1;
    const stream = buf[k + 15] === 0x65 ? 1 : 0; // std(e)rr
    if (buf[le - 2] === BACKSLASH && buf[le - 1] === 0x6e) {
      le -= 2; // `\n`
    } else {
      // A piece of a line over 16 KiB: the rest follows in the next entries of this stream.
      this.addPiece(stream, buf, s + 8, le);
      return;
    }
    if (buf[le - 2] === BACKSLASH && buf[le - 1] === 0x72) le -= 2; // `\r`
    const pieces = this.pieces[stream];
    if (pieces) {
      this.addPiece(stream, buf, s + 8, le);
      const line = Buffer.concat(pieces);
      this.pieces[stream] = null;
      this.pieceBytes[stream] = 0;
      this.lines++;
      this.text(line, 0, line.length, true);
      return;
    }
    this.lines++;
    this.text(buf, s + 8, le, true);
  }

  private addPiece(stream: number, buf: Buffer, s: number, e: number): void {
    const pieces = (this.pieces[stream] ??= []);
    const room = MAX_JOINED - (this.pieceBytes[stream] as number);
    if (room <= 0) return;
    const end = Math.min(e, s + room);
    // Copied: the chunk it lies in is reused by the reader.
    pieces.push(Buffer.from(buf.subarray(s, end)));
    this.pieceBytes[stream] = (this.pieceBytes[stream] as number) + (end - s);
  }

  /** An entry the byte scanner does not know (attrs in another order, say): the JSON parser reads it. */
  private slowEntry(buf: Buffer, s: number, e: number): void {
    let data: { log?: unknown; time?: unknown };
    try {
      data = JSON.parse(buf.toString('utf8', s, e)) as typeof data;
    } catch {
      this.unreadable++;
      return;
    }
    if (typeof data.log !== 'string' || typeof data.time !== 'string') {
      this.unreadable++;
      return;
    }
    const line = Buffer.from(`${data.time.slice(0, 19)} ${data.log.replace(/\r?\n$/, '')}`);
    if (!this.setMinute(line, 0)) {
      this.unreadable++;
      return;
    }
    this.lines++;
    this.text(line, 20, line.length, false);
  }

  /** Select the minute bucket from `YYYY-MM-DDTHH:MM[:SS]` at `buf[p]`; false when it is not a time. */
  private setMinute(buf: Buffer, p: number): boolean {
    const mt = this.minuteText;
    // The second, for when the container last wrote (two bytes, no parsing of the whole time).
    const s0 = (buf[p + 17] as number) - 0x30;
    const s1 = (buf[p + 18] as number) - 0x30;
    this.second = buf[p + 16] === 0x3a && s0 >= 0 && s0 <= 5 && s1 >= 0 && s1 <= 9 ? s0 * 10 + s1 : 0;
    if (this.minuteValue !== -1) {
      // From the minute's digits back: where consecutive lines differ first.
      let i = 15;
      while (i >= 0 && mt[i] === buf[p + i]) i--;
      if (i < 0) return true;
    }
    const d = (i: number): number => (buf[p + i] as number) - 0x30;
    const ok = buf[p + 4] === 0x2d && buf[p + 7] === 0x2d && buf[p + 10] === 0x54 && buf[p + 13] === 0x3a;
    if (!ok) return false;
    const ms = Date.UTC(
      d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3),
      d(5) * 10 + d(6) - 1,
      d(8) * 10 + d(9),
      d(11) * 10 + d(12),
      d(14) * 10 + d(15),
    );
    if (!Number.isFinite(ms)) return false;
    buf.copy(mt, 0, p, p + 16);
    this.minuteValue = ms / 60_000;
    this.tally.minute(this.minuteValue);
    this.counts = this.tally.lineCounts(this.container);
    return true;
  }

  /** One log line's text in `buf[s, e)`, JSON-escaped when `escaped`. */
  private text(buf: Buffer, s: number, e: number, escaped: boolean): void {
    this.counts.r++;
    if (this.recognise(buf, s, e, escaped, true)) return;
    this.counts.u++;
    this.unrecognised++;
    if (this.sample === null) this.sample = maskLine(decode(buf, s, Math.min(e, s + 400), escaped));
  }

  /** Count the line if a parsing program or a rule knows it; false when none does. */
  private recognise(buf: Buffer, s: number, e: number, escaped: boolean, mayStrip: boolean): boolean {
    // The first quote: a bounded loop (indexOf would run past the line when it has none).
    let q = s;
    while (q < e && buf[q] !== QUOTE) q++;
    if (q < e && parseRequestLine(buf, q, e, this.req, s)) {
      this.countRequest(buf, escaped);
      if (this.rules.length > 0) this.applyRules(buf, s, e, escaped);
      return true;
    }
    const line = buf.subarray(s, e);
    // Colour codes (uvicorn on a TTY): read the line again without them.
    if (mayStrip && (escaped ? line.indexOf(ESC_ESCAPED) : line.indexOf(ESC)) !== -1) {
      const plain = stripColours(line, escaped);
      return this.recognise(plain, 0, plain.length, escaped, false);
    }
    let known = false;
    if (buf[s] === 0x7b) {
      known = this.jsonLine(decode(buf, s, e, escaped));
    } else if (line.indexOf(TASK) !== -1 || line.indexOf(TIME_LIMIT) !== -1) {
      known = this.celeryEvent(parseCeleryLine(decode(buf, s, e, escaped)));
    }
    if (this.rules.length > 0 && this.applyRules(buf, s, e, escaped)) known = true;
    return known;
  }

  private countRequest(buf: Buffer, escaped: boolean): void {
    const rl = this.req;
    if (rl.ambiguous) this.ambiguous++;
    if (rl.duration >= 0 && this.hist === null) this.hist = this.tally.httpHistogram(this.container);
    if (rl.odd) {
      countHttp(this.tally.httpSeries(this.container, ODD_KEY), rl.status, rl.duration, this.hist);
      return;
    }
    const entry = this.routes.get(rl.hash);
    if (entry !== undefined && entry.check === rl.check && !(entry.notFound && rl.status !== 404)) {
      if (entry.minute !== this.minuteValue) {
        entry.series = this.tally.httpSeries(this.container, entry.key);
        entry.minute = this.minuteValue;
      }
      if (entry.contender) entry.contender.n++;
      countHttp(entry.series, rl.status, rl.duration, this.hist);
      return;
    }
    const raw = buf.toString('latin1', rl.methodStart, rl.pathEnd);
    const methodLength = rl.methodEnd - rl.methodStart;
    const method = knownMethod(raw.slice(0, methodLength));
    let key = ODD_KEY;
    let contender: { n: number } | null = null;
    if (method !== 'OTHER') {
      let path = raw.slice(methodLength + 1);
      if (escaped && path.includes('\\')) path = decodeText(path);
      const route = `${method} ${collapseRoute(path)}`;
      key = this.tally.admitRoute(this.container, route, method, rl.status);
      if (key !== route && !key.endsWith(NOT_FOUND_ROUTE)) {
        contender = this.tally.contender(this.container, route);
        contender.n++;
      }
    }
    const series = this.tally.httpSeries(this.container, key);
    // A colliding hash (another path holds the slot) is simply not cached.
    if (entry === undefined || entry.check === rl.check) {
      if (entry === undefined && this.routes.size >= MAX_CACHED_ROUTES) this.routes.clear();
      this.routes.set(rl.hash, {
        check: rl.check,
        key,
        series,
        minute: this.minuteValue,
        notFound: key.endsWith(NOT_FOUND_ROUTE),
        contender,
      });
    }
    countHttp(series, rl.status, rl.duration, this.hist);
  }

  private celeryEvent(event: TaskEvent | null): boolean {
    if (!event) return false;
    this.celeryLines++;
    if (event.state !== 'received' && event.state !== 'noted') {
      this.tally.task(this.container, event.task, event.state, event.duration);
    }
    return true;
  }

  private jsonLine(text: string): boolean {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return false;
    }
    const r = parseJsonRequest(data);
    if (r) {
      const method = knownMethod(r.method);
      const route = `${method} ${collapseRoute(r.path)}`;
      let key = ODD_KEY;
      if (method !== 'OTHER' && r.path !== '') {
        key = this.tally.admitRoute(this.container, route, method, r.status);
        if (key !== route && !key.endsWith(NOT_FOUND_ROUTE)) this.tally.contender(this.container, route).n++;
      }
      const duration = r.duration ?? -1;
      if (duration >= 0 && this.hist === null) this.hist = this.tally.httpHistogram(this.container);
      countHttp(this.tally.httpSeries(this.container, key), r.status, duration, this.hist);
      return true;
    }
    // A JSON-formatted worker log: the message is Celery's own line.
    const o = data as Record<string, unknown> | null;
    const message = o && typeof o === 'object' ? (o['message'] ?? o['msg'] ?? o['event']) : undefined;
    return typeof message === 'string' && this.celeryEvent(parseCeleryLine(message));
  }

  private applyRules(buf: Buffer, s: number, e: number, escaped: boolean): boolean {
    let matched = false;
    matchRules(this.rules, decode(buf, s, e, escaped), (rule, m) => {
      this.countRule(rule, m);
      matched = true;
    });
    return matched;
  }

  private readonly countRule = (rule: AppRule, m: RuleMatch): void =>
    this.tally.rule(this.container, rule.name, m.label, m.duration);
}

/** The line without its ANSI colour sequences (`ESC [ … letter`, or `\\u001b[ … letter` while JSON-escaped). */
function stripColours(line: Buffer, escaped: boolean): Buffer {
  const out = Buffer.allocUnsafe(line.length);
  let o = 0;
  let p = 0;
  while (p < line.length) {
    let seq = 0;
    if (line[p] === ESC && line[p + 1] === 0x5b) seq = 2;
    else if (escaped && line[p] === BACKSLASH && line.subarray(p, p + 6).equals(ESC_ESCAPED) && line[p + 6] === 0x5b) {
      seq = 7;
    }
    if (seq > 0) {
      let t = p + seq;
      while (t < line.length && (((line[t] as number) >= 0x30 && (line[t] as number) <= 0x39) || line[t] === 0x3b)) t++;
      const c = line[t] as number;
      if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
        p = t + 1;
        continue;
      }
    }
    out[o++] = line[p] as number;
    p++;
  }
  return out.subarray(0, o);
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);

/** The method as a label: anything a client made up is `OTHER` (labels stay bounded). */
function knownMethod(method: string): string {
  return METHODS.has(method) ? method : 'OTHER';
}

function decode(buf: Buffer, s: number, e: number, escaped: boolean): string {
  const raw = buf.toString('utf8', s, e);
  return escaped && raw.includes('\\') ? decodeText(raw) : raw;
}

function decodeText(escaped: string): string {
  try {
    return JSON.parse(`"${escaped}"`) as string;
  } catch {
    return escaped;
  }
}
