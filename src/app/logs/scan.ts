/**
 * One container's log lines through the parsing programs into the tally: json-file entries read in
 * place (the log value still escaped, its time read from the end of the entry), or the Engine API's
 * `<RFC 3339 stamp> <line>` form. A line is dispatched on cheap byte checks; only lines that are not
 * request lines (JSON, Celery, user rules) become strings.
 */
import { parseCeleryLine, parseJsonRequest, parseRequestLine, type RequestLine } from './formats.js';
import { collapseRoute } from './routes.js';
import { matchRule, type AppRule } from './rules.js';
import { countHttp, type HttpSeries, type Tally } from './tally.js';

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const TASK = Buffer.from('Task ');
const STREAM_KEY = Buffer.from('","stream":"');
/** Route cache entries past which it starts again (paths with ids in them are unbounded). */
const MAX_CACHED_ROUTES = 20_000;

interface RouteEntry {
  check: number;
  key: string;
  series: HttpSeries;
  minute: number;
}

export class LineScanner {
  private readonly req: RequestLine = {
    methodStart: 0,
    methodEnd: 0,
    pathEnd: 0,
    status: 0,
    duration: -1,
    hash: 0,
    check: 0,
  };
  /** Request-line hash → its route key (`METHOD route`) and the series of the minute it was last counted in. */
  private readonly routes = new Map<number, RouteEntry>();
  /** The first 16 bytes (`YYYY-MM-DDTHH:MM`) of the last line's time, and its minute. */
  private readonly minuteText = Buffer.alloc(16);
  private minuteValue = -1;
  /** Entries that were not json-file lines. */
  unreadable = 0;
  lines = 0;

  constructor(
    private readonly tally: Tally,
    private readonly container: string,
    private readonly rules: AppRule[],
  ) {}

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
    if (buf[le - 2] === BACKSLASH && buf[le - 1] === 0x6e) le -= 2; // `\n`
    if (buf[le - 2] === BACKSLASH && buf[le - 1] === 0x72) le -= 2; // `\r`
    this.lines++;
    this.text(buf, s + 8, le, true);
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
    const line = Buffer.from(`${data.time.slice(0, 16)} ${data.log.replace(/\r?\n$/, '')}`);
    if (!this.setMinute(line, 0)) {
      this.unreadable++;
      return;
    }
    this.lines++;
    this.text(line, 17, line.length, false);
  }

  /** Select the minute bucket from `YYYY-MM-DDTHH:MM` at `buf[p]`; false when it is not a time. */
  private setMinute(buf: Buffer, p: number): boolean {
    const mt = this.minuteText;
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
    return true;
  }

  /** One log line's text in `buf[s, e)`, JSON-escaped when `escaped`. */
  private text(buf: Buffer, s: number, e: number, escaped: boolean): void {
    // The first quote: a bounded loop (indexOf would run past the line when it has none).
    let q = s;
    while (q < e && buf[q] !== QUOTE) q++;
    const rl = this.req;
    if (q < e && parseRequestLine(buf, q, e, rl, s)) {
      const entry = this.routes.get(rl.hash);
      if (entry !== undefined && entry.check === rl.check) {
        if (entry.minute !== this.minuteValue) {
          entry.series = this.tally.httpSeries(this.container, entry.key);
          entry.minute = this.minuteValue;
        }
        countHttp(entry.series, rl.status, rl.duration);
      } else {
        const raw = buf.toString('latin1', rl.methodStart, rl.pathEnd);
        const key = this.routeKey(raw, rl.methodEnd - rl.methodStart, escaped);
        const series = this.tally.httpSeries(this.container, key);
        // A colliding hash (another path holds the slot) is simply not cached.
        if (entry === undefined) {
          if (this.routes.size >= MAX_CACHED_ROUTES) this.routes.clear();
          this.routes.set(rl.hash, { check: rl.check, key, series, minute: this.minuteValue });
        }
        countHttp(series, rl.status, rl.duration);
      }
      if (this.rules.length > 0) this.applyRules(buf, s, e, escaped);
      return;
    }
    const first = buf[s];
    if (first === 0x7b) {
      this.jsonLine(decode(buf, s, e, escaped));
    } else if (buf.subarray(s, e).indexOf(TASK) !== -1) {
      const event = parseCeleryLine(decode(buf, s, e, escaped));
      if (event && event.state !== 'received') this.tally.task(this.container, event.task, event.state, event.duration);
    }
    if (this.rules.length > 0) this.applyRules(buf, s, e, escaped);
  }

  private routeKey(raw: string, methodLength: number, escaped: boolean): string {
    const method = knownMethod(raw.slice(0, methodLength));
    let path = raw.slice(methodLength + 1);
    if (escaped && path.includes('\\')) path = decodeText(path);
    return this.tally.admitRoute(this.container, `${method} ${collapseRoute(path)}`, method);
  }

  private jsonLine(text: string): void {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    const r = parseJsonRequest(data);
    if (!r) return;
    const method = knownMethod(r.method);
    const key = this.tally.admitRoute(this.container, `${method} ${collapseRoute(r.path)}`, method);
    this.tally.http(this.container, key, r.status, r.duration ?? -1);
  }

  private applyRules(buf: Buffer, s: number, e: number, escaped: boolean): void {
    const text = decode(buf, s, e, escaped);
    for (const rule of this.rules) {
      const m = matchRule(rule, text);
      if (m) this.tally.rule(this.container, rule.name, m.label, m.duration);
    }
  }
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
