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
  /** Seconds, or -1 when the line carries no duration. */
  duration: number;
  /**
   * Two different 30-bit hashes of the method and path bytes (FNV-1a and the polynomial of Java's
   * String.hashCode; small integers, so no heap number per line): the route cache is keyed by `hash`
   * and verifies `check`, and the hot path makes no string.
   */
  hash: number;
  check: number;
}

/**
 * Parse `… "METHOD PATH HTTP/x" STATUS …` in the line `buf[s, e)` whose first quote is at `q`; true
 * when the line is one.
 */
export function parseRequestLine(buf: Buffer, q: number, e: number, out: RequestLine, s = 0): boolean {
  if (q < s || q + 16 > e) return false;
  // The method: 3 to 7 capital letters, then one space.
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
  if (p - ms < 3 || p - ms > 7 || buf[p] !== SPACE) return false;
  const me = p;
  p++;
  if (buf[p] !== 0x2f && buf[p] !== 0x2a && buf[p] !== 0x68) return false; // `/`, `*` (OPTIONS), `http://`
  // The path runs to the space before the protocol; the query string is cut off (and not hashed).
  let pe = -1;
  let sp = p;
  for (; sp < e; sp++) {
    const c = buf[sp] as number;
    if (c === SPACE) break;
    if (pe !== -1) continue;
    if (c === 0x3f) {
      pe = sp;
    } else {
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = ((h2 << 5) - h2 + c) | 0;
    }
  }
  if (sp + 9 > e) return false;
  if (pe === -1) pe = sp;
  if (buf[sp + 1] !== 0x48 || buf[sp + 2] !== 0x54 || buf[sp + 5] !== 0x2f) return false; // `HTTP/`
  let r = sp + 6;
  while (r < e && buf[r] !== QUOTE && buf[r] !== BACKSLASH) r++;
  if (buf[r] === BACKSLASH) r++;
  if (buf[r] !== QUOTE || buf[r + 1] !== SPACE) return false;
  const d0 = (buf[r + 2] as number) - 0x30;
  const d1 = (buf[r + 3] as number) - 0x30;
  const d2 = (buf[r + 4] as number) - 0x30;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return false;
  const after = r + 5;
  if (after < e && buf[after] !== SPACE) return false;
  out.methodStart = ms;
  out.methodEnd = me;
  out.pathEnd = pe;
  out.hash = h1 & 0x3fffffff;
  out.check = h2 & 0x3fffffff;
  out.status = d0 * 100 + d1 * 10 + d2;
  out.duration = trailingDuration(buf, s, after, e);
  return true;
}

/**
 * The duration of a request line, from its last field when that comes after the size field (gunicorn's
 * `%(D)s`/`%(L)s`/`%(M)s`, nginx's `$request_time`): -1 for uvicorn (`INFO:` or `host:port - "…"`,
 * never a duration) and for lines that end with the size or the user agent.
 */
function trailingDuration(buf: Buffer, s: number, after: number, e: number): number {
  if (after >= e) return -1;
  // uvicorn: `INFO:     host:port - "` and, under gunicorn's UvicornWorker, `host:port - "`.
  if (buf[s] === 0x49 && buf[s + 1] === 0x4e && buf[s + 4] === 0x3a) return -1;
  let end = e;
  while (end > after && buf[end - 1] === SPACE) end--;
  let t = end;
  while (t > after && buf[t - 1] !== SPACE) t--;
  // The first field after the status is the size; a duration comes later.
  const size = buf.indexOf(SPACE, after + 1);
  if (size === -1 || t <= size || t >= end) return -1;
  return parseDurationToken(buf, t, end, 1e-6);
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

export type TaskState = 'received' | 'succeeded' | 'failed' | 'retried';

export interface TaskEvent {
  task: string;
  state: TaskState;
  /** Seconds (`succeeded in 12.3s`), or null. */
  duration: number | null;
}

const CELERY_TASK =
  /(?:^|\] )Task ([\w.:-]+)\[[^\]\s]+\] (received|succeeded in (\d[\d.eE+-]*)s|raised unexpected|retry)/;

/**
 * A Celery worker line (`Task NAME[ID] received`, `succeeded in 12.3s: …` (also `3.96e-05s`),
 * `raised unexpected: …`, `retry: …`), or null.
 */
export function parseCeleryLine(text: string): TaskEvent | null {
  const at = text.indexOf('Task ');
  if (at === -1) return null;
  const m = CELERY_TASK.exec(at === 0 ? text : text.slice(at - 2));
  if (!m) return null;
  const task = m[1] as string;
  const word = m[2] as string;
  if (word === 'received') return { task, state: 'received', duration: null };
  if (word === 'retry') return { task, state: 'retried', duration: null };
  if (word === 'raised unexpected') return { task, state: 'failed', duration: null };
  const seconds = Number(m[3]);
  return { task, state: 'succeeded', duration: Number.isFinite(seconds) ? seconds : null };
}

export interface JsonRequest {
  method: string;
  path: string;
  status: number;
  /** Seconds, or null. */
  duration: number | null;
}

/**
 * A JSON log line that is an HTTP request: Caddy's access log (`request.method`, `request.uri`,
 * `status`, `duration` in seconds) or any JSON line with `status` and `method`/`path` (`duration` in
 * seconds, `duration_ms` in milliseconds), or null.
 */
export function parseJsonRequest(data: unknown): JsonRequest | null {
  if (typeof data !== 'object' || data === null) return null;
  const o = data as Record<string, unknown>;
  const status = toStatus(o['status'] ?? o['status_code'] ?? o['statusCode']);
  if (status === null) return null;
  const req = typeof o['request'] === 'object' && o['request'] !== null ? (o['request'] as Record<string, unknown>) : o;
  const method = req['method'] ?? o['method'];
  const target = req['uri'] ?? req['path'] ?? o['path'] ?? o['url'] ?? o['uri'];
  if (typeof method !== 'string' || typeof target !== 'string' || !/^[A-Z]{3,7}$/.test(method)) return null;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  let duration: number | null = null;
  if (typeof o['duration_ms'] === 'number') duration = o['duration_ms'] / 1000;
  else if (typeof o['duration'] === 'number') duration = o['duration'];
  else if (typeof o['duration'] === 'string') duration = parseDurationText(o['duration']);
  if (duration !== null && (!Number.isFinite(duration) || duration < 0)) duration = null;
  return { method, path, status, duration };
}

function toStatus(value: unknown): number | null {
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && /^\d{3}$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 100 && n <= 599 ? n : null;
}
