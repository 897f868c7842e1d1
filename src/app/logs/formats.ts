/**
 * The parsing programs: each recognises one kind of application log line, with no setting, and says
 * what it saw (an HTTP request, a Celery task event). Like mtail's programs they only parse; tally.ts
 * counts. The request-line family (uvicorn, gunicorn, nginx/Apache combined) is parsed straight from
 * bytes, also while still JSON-escaped inside a json-file entry (`\"GET / HTTP/1.1\" 200`): no string,
 * regex or object per line on that path, which is millions of lines.
 */

const QUOTE = 0x22;
const SPACE = 0x20;
const BACKSLASH = 0x5c;

/** What the request-line parser found; fields are reused between lines (no object per line). */
export interface RequestLine {
  /** Byte range of the method, and of the path without its query string. */
  methodStart: number;
  methodEnd: number;
  pathEnd: number;
  status: number;
  /** Seconds, or -1 when the line carries no duration (or one whose unit is not known). */
  duration: number;
  /** True when the line ends in a bare number whose unit the format does not say (no duration taken). */
  ambiguous: boolean;
  /**
   * True for a request line that is not `METHOD PATH HTTP/x` (`-`, empty, garbage, spaces in the path,
   * what scanners send and nginx logs as 400): counted under its status, route `other`.
   */
  odd: boolean;
  /**
   * Seconds per unit of a bare trailing integer when the container's own command says which field it
   * is (gunicorn's `--access-logformat` ending in `%(D)s`: 1e-6, `%(M)s`: 1e-3, `%(T)s`: 1); null when
   * not known, so such a number gives no duration.
   */
  bareScale: number | null;
  /**
   * Two different 30-bit hashes of the method and path bytes (FNV-1a and the polynomial of Java's
   * String.hashCode; small integers, so no heap number per line): the route cache is keyed by `hash`
   * and verifies `check`, and the hot path makes no string.
   */
  hash: number;
  check: number;
}

/**
 * Seconds per unit of the bare number that ends a container's access lines, when its command says
 * which field that is: gunicorn's `--access-logformat` ending in `%(D)s` (µs), `%(M)s` (ms) or `%(T)s`
 * (s). Null otherwise: the unit is not known for sure.
 */
export function bareScaleFromCommand(command: readonly string[] | undefined): number | null {
  if (!command) return null;
  let format: string | undefined;
  for (let i = 0; i < command.length; i++) {
    const arg = command[i] as string;
    if (arg === '--access-logformat') format = command[i + 1];
    else if (arg.startsWith('--access-logformat=')) format = arg.slice('--access-logformat='.length);
  }
  const m = format === undefined ? null : /%\(([DMT])\)s\s*$/.exec(format);
  if (!m) return null;
  return m[1] === 'D' ? 1e-6 : m[1] === 'M' ? 1e-3 : 1;
}

/** A RequestLine to reuse. */
export function newRequestLine(bareScale: number | null = null): RequestLine {
  return {
    methodStart: 0,
    methodEnd: 0,
    pathEnd: 0,
    status: 0,
    duration: -1,
    ambiguous: false,
    odd: false,
    bareScale,
    hash: 0,
    check: 0,
  };
}

/** Longest method read as one (WebDAV's `VERSION-CONTROL` is 15). */
const MAX_METHOD = 20;

/**
 * Parse `… "METHOD PATH HTTP/x" STATUS …` in the line `buf[s, e)` whose first quote is at `q`; true
 * when the line is one. An access line whose request is not of that shape (`"-"`, `""`, garbage) is
 * one too, marked `odd`, when what precedes the quote is an access line's (`] "` or `- "`).
 */
export function parseRequestLine(buf: Buffer, q: number, e: number, out: RequestLine, s = 0): boolean {
  if (q < s || q + 6 > e) return false;
  out.odd = false;
  out.ambiguous = false;
  // The method: capital letters (any number: PROPFIND, MKCOL), then one space.
  let p = q + 1;
  const ms = p;
  let h1 = 0x811c9dc5;
  let h2 = 7;
  while (p < e) {
    const c = buf[p] as number;
    if (c < 0x41 || c > 0x5a) break;
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = ((h2 << 5) - h2 + c) | 0;
    p++;
  }
  if (p - ms < 1 || p - ms > MAX_METHOD || buf[p] !== SPACE) return parseOddRequest(buf, q, e, out, s);
  const me = p;
  p++;
  if (buf[p] !== 0x2f && buf[p] !== 0x2a && buf[p] !== 0x68) return parseOddRequest(buf, q, e, out, s); // `/`, `*`, `http://`
  // The path runs to the space before the protocol; the query string is cut off (and not hashed).
  let pe = -1;
  let sp = p;
  for (; sp < e; sp++) {
    const c = buf[sp] as number;
    if (c === SPACE || c === QUOTE) break;
    if (pe !== -1) continue;
    if (c === 0x3f) {
      pe = sp;
    } else {
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = ((h2 << 5) - h2 + c) | 0;
    }
  }
  if (sp + 9 > e) return parseOddRequest(buf, q, e, out, s);
  if (pe === -1) pe = sp;
  if (buf[sp] !== SPACE || buf[sp + 1] !== 0x48 || buf[sp + 2] !== 0x54 || buf[sp + 5] !== 0x2f) {
    return parseOddRequest(buf, q, e, out, s); // not ` HTTP/`: spaces in the target, say
  }
  let r = sp + 6;
  while (r < e && buf[r] !== QUOTE && buf[r] !== BACKSLASH) r++;
  if (buf[r] === BACKSLASH) r++;
  if (buf[r] !== QUOTE || buf[r + 1] !== SPACE) return false;
  const status = readStatus(buf, r + 2, e);
  if (status === -1) return false;
  const after = r + 5;
  out.methodStart = ms;
  out.methodEnd = me;
  out.pathEnd = pe;
  out.hash = h1 & 0x3fffffff;
  out.check = h2 & 0x3fffffff;
  out.status = status;
  out.duration = trailingDuration(buf, s, after, e, out);
  return true;
}

/** Three digits 100-599 at `p`, followed by a space or the end; else -1. */
function readStatus(buf: Buffer, p: number, e: number): number {
  const d0 = (buf[p] as number) - 0x30;
  const d1 = (buf[p + 1] as number) - 0x30;
  const d2 = (buf[p + 2] as number) - 0x30;
  if (p + 3 > e || d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return -1;
  if (p + 3 < e && buf[p + 3] !== SPACE) return -1;
  return d0 * 100 + d1 * 10 + d2;
}

/**
 * An access line whose quoted request is not a request (`"-"`, `""`, `"\x16\x03…"`, `"GET /a b HTTP/1.1"`):
 * the quote follows `] ` (Common Log Format) or `- ` (uvicorn) and the closing quote is followed by a status.
 */
function parseOddRequest(buf: Buffer, q: number, e: number, out: RequestLine, s: number): boolean {
  if (q - 2 < s || buf[q - 1] !== SPACE || (buf[q - 2] !== 0x5d && buf[q - 2] !== 0x2d)) return false;
  let r = q + 1;
  for (; r < e; r++) {
    const c = buf[r];
    if (c === QUOTE) break;
    if (c === BACKSLASH && buf[r + 1] === QUOTE) {
      r++;
      break;
    }
  }
  if (r >= e || buf[r + 1] !== SPACE) return false;
  const status = readStatus(buf, r + 2, e);
  if (status === -1) return false;
  out.odd = true;
  out.methodStart = out.methodEnd = out.pathEnd = q + 1;
  out.hash = 0;
  out.check = 0;
  out.status = status;
  out.duration = trailingDuration(buf, s, r + 5, e, out);
  return true;
}

/**
 * The duration of an access line, from what follows the status (the size, the referrer and user agent,
 * then any extra fields), in the unit the format gives it:
 * - uvicorn (`INFO:` or `host:port - "…" 200`): none.
 * - a number with a unit (`12ms`, Traefik's CLF; `0.3s`): that.
 * - a decimal (`0.004`: nginx's `$request_time`, gunicorn's `%(L)s`): seconds; of two numbers at the
 *   end (`$request_time $upstream_response_time`) the first.
 * - `rt=`/`request_time=` fields: that one (`urt=`/`upstream_response_time=` are not the request's).
 * - a bare integer: its unit is not in the line (`%(D)s` µs, `%(M)s` ms, Apache's `%T` s, `%D` µs, or
 *   combinedio's bytes): only when the container's command says (`bareScale`), else none and `ambiguous`.
 */
function trailingDuration(buf: Buffer, s: number, after: number, e: number, out: RequestLine): number {
  if (after >= e) return -1;
  // uvicorn: `INFO:     host:port - "`.
  if (buf[s] === 0x49 && buf[s + 1] === 0x4e && buf[s + 4] === 0x3a) return -1;
  let end = e;
  while (end > after && buf[end - 1] === SPACE) end--;
  // The extra fields start after the last quote (the user agent's), else after the size.
  let start = end;
  while (start > after && buf[start - 1] !== QUOTE) start--;
  if (start === after) {
    start = buf.indexOf(SPACE, after + 1);
    if (start === -1 || start >= end) return -1;
  }
  // Up to four fields, left to right.
  let first = -1;
  let firstEnd = -1;
  let count = 0;
  let bare = 0;
  let p = start;
  while (p < end) {
    while (p < end && buf[p] === SPACE) p++;
    if (p >= end) break;
    let t = p;
    while (t < end && buf[t] !== SPACE) t++;
    count++;
    // `rt=0.004` / `request_time=0.004` name the request's own time.
    const eq = keyValue(buf, p, t);
    if (eq !== -1) {
      if (isRequestTimeKey(buf, p, eq)) return nonNegative(parseDurationToken(buf, eq + 1, t, -1));
    } else {
      const kind = numberKind(buf, p, t);
      if (kind === NUM_BARE) bare++;
      if (first === -1 && kind !== NUM_NONE && kind !== NUM_DASH) {
        first = p;
        firstEnd = t;
      }
    }
    if (count > 4) return -1;
    p = t;
  }
  if (first === -1) return -1;
  const kind = numberKind(buf, first, firstEnd);
  if (kind === NUM_UNIT || kind === NUM_DECIMAL) return nonNegative(parseDurationToken(buf, first, firstEnd, -1));
  // Bare integers: combinedio's two byte counts are no duration at all; one is a duration in an unknown unit.
  if (bare >= 2) return -1;
  if (out.bareScale !== null) return nonNegative(parseDurationToken(buf, first, firstEnd, out.bareScale));
  out.ambiguous = true;
  return -1;
}

const NUM_NONE = 0;
const NUM_BARE = 1;
const NUM_DECIMAL = 2;
const NUM_UNIT = 3;
const NUM_DASH = 4;

/** What a field is: a bare integer, a decimal, a number with a unit, `-`, or something else. */
function numberKind(buf: Buffer, s: number, e: number): number {
  if (e - s === 1 && buf[s] === 0x2d) return NUM_DASH;
  let p = s;
  let digits = 0;
  let dot = false;
  for (; p < e; p++) {
    const c = buf[p] as number;
    if (c >= 0x30 && c <= 0x39) digits++;
    else if (c === 0x2e && !dot) dot = true;
    else break;
  }
  if (digits === 0) return NUM_NONE;
  if (p === e) return dot ? NUM_DECIMAL : NUM_BARE;
  return parseDurationToken(buf, s, e, -1) >= 0 ? NUM_UNIT : NUM_NONE;
}

function keyValue(buf: Buffer, s: number, e: number): number {
  for (let p = s; p < e; p++) if (buf[p] === 0x3d) return p;
  return -1;
}

const REQUEST_TIME_KEYS = ['rt', 'request_time', 'req_time', 'duration'];

function isRequestTimeKey(buf: Buffer, s: number, eq: number): boolean {
  const key = buf.toString('latin1', s, eq);
  return REQUEST_TIME_KEYS.includes(key);
}

function nonNegative(v: number): number {
  return v >= 0 ? v : -1;
}

/**
 * A number with an optional unit (`ms`, `s`, `us`, `µs`): seconds. Without a unit a decimal is
 * seconds (`%(L)s`, `$request_time`) and an integer is `bareIntegerScale` seconds (gunicorn's `%(D)s`,
 * microseconds). -1 when it is not a number.
 */
export function parseDurationToken(buf: Buffer, s: number, e: number, bareIntegerScale: number): number {
  let value = 0;
  let p = s;
  let digits = 0;
  let scale = 0;
  let dot = false;
  for (; p < e; p++) {
    const c = buf[p] as number;
    if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      digits++;
      if (dot) scale++;
    } else if (c === 0x2e && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (digits === 0) return -1;
  if (scale > 0) value /= 10 ** scale;
  const unit = e - p;
  if (unit === 0) return dot ? value : value * bareIntegerScale;
  const u0 = buf[p];
  if (unit === 1 && u0 === 0x73) return value; // s
  if (unit === 2 && buf[p + 1] === 0x73) {
    if (u0 === 0x6d) return value / 1e3; // ms
    if (u0 === 0x75) return value / 1e6; // us
  }
  if (unit === 3 && u0 === 0xc2 && buf[p + 1] === 0xb5 && buf[p + 2] === 0x73) return value / 1e6; // µs
  return -1;
}

/** A duration written as text (`12.3s`, `3.96e-05s`, `250ms`, `0.5`): seconds, or null. */
export function parseDurationText(text: string, bareUnit: 's' | 'ms' = 's'): number | null {
  const m = /^\s*(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(ms|s|us|µs)?\s*$/.exec(text);
  if (!m) return null;
  const value = Number(m[1]);
  if (!Number.isFinite(value)) return null;
  const unit = m[2] ?? bareUnit;
  return unit === 'ms' ? value / 1e3 : unit === 'us' || unit === 'µs' ? value / 1e6 : value;
}

export type TaskState = 'received' | 'succeeded' | 'failed' | 'retried' | 'expected' | 'noted';

export interface TaskEvent {
  task: string;
  /** `noted`: a worker line that counts nothing by itself (a soft time limit, before its `raised` line). */
  state: TaskState;
  /** Seconds (`succeeded in 12.3s`), or null. */
  duration: number | null;
}

/** The task of a failure logged without a task name (a pool child killed: the OOM killer's signal 9). */
export const WORKER_LOST_TASK = '(worker lost)';
/** The task of another `Task handler raised error` without a name. */
export const UNKNOWN_TASK = '(unknown task)';

const CELERY_TASK =
  /(?:^|[\s\]:|])Task ([\w.:-]+)\[[^\]\s]+\] (received|succeeded in (\d[\d.eE+-]*)s|raised unexpected|raised expected|retry|INTERNAL ERROR)/;
const CELERY_LIMIT = /(Hard|Soft) time limit \([\d.]+s\) exceeded for ([\w.:-]+)\[/;
const CELERY_HANDLER = /Task handler raised error: (\w+)/;

/**
 * A Celery worker line, in whatever formatter wrote it (`[… INFO/MainProcess] Task …`, `celery.app.trace`
 * and Django-style formatters, a JSON log's message): `Task NAME[ID] received`, `succeeded in 12.3s`
 * (also `3.96e-05s`), `raised unexpected`, `raised expected`, `retry`, `INTERNAL ERROR`; `Hard time
 * limit (Ns) exceeded for NAME[ID]` (a failure: no `raised` line follows); `Soft time limit …` (noted:
 * its `raised` line counts it); `Task handler raised error: WorkerLostError(…)` (a failure of a task
 * the line does not name; `TimeLimitExceeded` there is the hard limit's, counted by its own line). Else null.
 */
export function parseCeleryLine(text: string): TaskEvent | null {
  const at = text.indexOf('Task ');
  if (at !== -1) {
    const m = CELERY_TASK.exec(at === 0 ? text : text.slice(at - 1));
    if (m) {
      const task = m[1] as string;
      const word = m[2] as string;
      if (word === 'received') return { task, state: 'received', duration: null };
      if (word === 'retry') return { task, state: 'retried', duration: null };
      if (word === 'raised expected') return { task, state: 'expected', duration: null };
      if (word === 'raised unexpected' || word === 'INTERNAL ERROR') return { task, state: 'failed', duration: null };
      const seconds = Number(m[3]);
      return { task, state: 'succeeded', duration: Number.isFinite(seconds) ? seconds : null };
    }
    const h = CELERY_HANDLER.exec(text);
    if (h) {
      const error = h[1] as string;
      if (error === 'TimeLimitExceeded') return { task: UNKNOWN_TASK, state: 'noted', duration: null };
      return { task: error === 'WorkerLostError' ? WORKER_LOST_TASK : UNKNOWN_TASK, state: 'failed', duration: null };
    }
  }
  if (text.includes(' time limit (')) {
    const l = CELERY_LIMIT.exec(text);
    if (l) return { task: l[2] as string, state: l[1] === 'Hard' ? 'failed' : 'noted', duration: null };
  }
  return null;
}

export interface JsonRequest {
  method: string;
  path: string;
  status: number;
  /** Seconds, or null. */
  duration: number | null;
}

/** Loggers of HTTP clients: their lines are requests this app made, not requests to it. */
const CLIENT_LOGGERS = /^(?:httpx|httpcore|requests|urllib3|aiohttp\.client|botocore|boto3)(?:\.|$)/;
/** Fields that name the client of an incoming request. */
const CLIENT_FIELDS = ['client', 'client_ip', 'client_addr', 'remote_addr', 'remote_ip', 'ClientAddr', 'ip'];

/**
 * A JSON log line that is a request to this app, or null: Caddy's access log (`request.method`,
 * `request.uri`, `status`, `duration` seconds), Traefik's (`RequestMethod`, `RequestPath`,
 * `DownstreamStatus`, `Duration` nanoseconds), nginx's `escape=json` fields (`request_method`,
 * `request_uri`, `status`, `request_time` seconds, as strings), or any JSON line with `status` and
 * `method`/`path` (`duration` seconds, `duration_ms` milliseconds). Not a request to this app: an entry
 * from an HTTP client's logger (`httpx`, `requests`, `urllib3`, `aiohttp.client`) or whose `url` names
 * another host. An empty method or target (what nginx logs for garbage) comes back as `''`.
 */
export function parseJsonRequest(data: unknown): JsonRequest | null {
  if (typeof data !== 'object' || data === null) return null;
  const o = data as Record<string, unknown>;
  if (typeof o['DownstreamStatus'] === 'number' && typeof o['RequestMethod'] === 'string') {
    const status = toStatus(o['DownstreamStatus']);
    const duration = typeof o['Duration'] === 'number' && o['Duration'] >= 0 ? o['Duration'] / 1e9 : null;
    const target = typeof o['RequestPath'] === 'string' ? o['RequestPath'] : '';
    return status === null ? null : { method: o['RequestMethod'], path: cutQuery(target), status, duration };
  }
  const status = toStatus(o['status'] ?? o['status_code'] ?? o['statusCode']);
  if (status === null) return null;
  const logger = o['logger'] ?? o['name'] ?? o['logger_name'];
  if (typeof logger === 'string' && CLIENT_LOGGERS.test(logger)) return null;
  const req = typeof o['request'] === 'object' && o['request'] !== null ? (o['request'] as Record<string, unknown>) : o;
  const method = req['method'] ?? o['method'] ?? o['request_method'];
  const url = o['url'];
  const target = req['uri'] ?? req['path'] ?? o['path'] ?? o['request_uri'] ?? url ?? o['uri'];
  if (typeof method !== 'string' || typeof target !== 'string') return null;
  if (method !== '' && !/^[A-Z][A-Z-]{0,19}$/.test(method)) return null;
  if (target === url && typeof url === 'string' && !isIncomingUrl(url, o)) return null;
  let duration: number | null = null;
  if (typeof o['duration_ms'] === 'number') duration = o['duration_ms'] / 1000;
  else if (typeof o['duration'] === 'number') duration = o['duration'];
  else if (typeof o['duration'] === 'string') duration = parseDurationText(o['duration']);
  else if (typeof o['request_time'] === 'string' || typeof o['request_time'] === 'number') {
    duration = parseDurationText(String(o['request_time']));
  }
  if (duration !== null && (!Number.isFinite(duration) || duration < 0)) duration = null;
  return { method, path: cutQuery(pathOf(target)), status, duration };
}

/** A `url` field is this app's request when it is a path, names a local host, or the entry names its client. */
function isIncomingUrl(url: string, o: Record<string, unknown>): boolean {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return true;
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  if (host === 'localhost' || host === '127.0.0.1' || host === '0.0.0.0' || host === '[::1]') return true;
  if (typeof o['host'] === 'string' && o['host'].split(':')[0] === host) return true;
  return CLIENT_FIELDS.some((k) => o[k] !== undefined);
}

/** The path of an absolute URL (`http://h/p` → `/p`), else the target as it is. */
function pathOf(target: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (!m) return target;
  const rest = target.slice(m[0].length);
  return rest === '' ? '/' : rest;
}

function cutQuery(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

function toStatus(value: unknown): number | null {
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && /^\d{3}$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 100 && n <= 599 ? n : null;
}
