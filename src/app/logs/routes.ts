/**
 * Routes: a request path with what varies per object or per user collapsed to `:id` (numbers, UUIDs,
 * ULIDs, hex hashes, JWTs, e-mail addresses, long tokens), so `/api/v1/edits/42` and `/api/v1/edits/43`
 * are one route, labels stay bounded, and no token or address is ever kept or printed.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_ID = /^(?=[^/]*\d)[0-9a-f]{8,}$/i;
/** Crockford base32, 26 characters, the first at most 7 (a 48-bit time). */
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i;
/** A hash inside a segment (`app.3f9a8c7d1e2b.js`): 12 or more hex digits with a digit among them. */
const HEX_RUN = /(?<![0-9a-z])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}(?![0-9a-z])/gi;
/** A JWT (`eyJ…` header, payload, signature) anywhere in a segment. */
const JWT = /eyJ[\w-]{4,}\.[\w-]+\.[\w-]*/g;
/** An e-mail address, also percent-encoded (`%40`). */
const EMAIL = /[\w.+%-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+/gi;
/**
 * A run of token characters (API keys, reset and session tokens, base64): 20+ mixing digits, capitals
 * and small letters, or 32+ with a digit (a slug such as `background-jobs-2024` is neither).
 */
const TOKEN =
  /(?<![\w+=-])(?:(?=[\w+=-]*\d)(?=[\w+=-]*[A-Z])(?=[\w+=-]*[a-z])[\w+=-]{20,}|(?=[\w+=-]*\d)[\w+=-]{32,})(?![\w+=-])/g;
/** Past this many characters a route is cut: a label must not grow without bound. */
const MAX_ROUTE = 120;

/** The route of a path (no query string): `/api/v1/edits/42` → `/api/v1/edits/:id`; `other` when it is no path. */
export function collapseRoute(path: string): string {
  if (path === '' || path[0] !== '/') return path === '*' ? '*' : 'other';
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i] as string;
    if (seg === '') continue;
    if (isDigits(seg) || UUID.test(seg) || HEX_ID.test(seg) || (seg.length === 26 && ULID.test(seg))) {
      parts[i] = ':id';
    } else if (seg.length >= 12) {
      parts[i] = seg.replace(JWT, ':id').replace(EMAIL, ':id').replace(TOKEN, ':id').replace(HEX_RUN, ':id');
    } else if (seg.includes('@') || seg.includes('%40')) {
      parts[i] = seg.replace(EMAIL, ':id');
    }
  }
  const route = parts.join('/');
  return route.length > MAX_ROUTE ? `${route.slice(0, MAX_ROUTE)}…` : route;
}

/**
 * The shape of a log line, safe to print: numbers, hex, UUIDs, tokens, e-mail addresses and quoted
 * values masked, colour codes dropped, the first 120 characters.
 */
export function maskLine(line: string): string {
  const shape = line
    .replace(/\u001b\[[0-9;]*[A-Za-z]/g, '')
    .replace(JWT, 'JWT')
    .replace(EMAIL, 'EMAIL')
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/'(?:[^'\\]|\\.)*'/g, "'…'")
    .replace(TOKEN, 'TOKEN')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, 'UUID')
    .replace(/\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b/gi, 'HEX')
    .replace(/\d+/g, 'N');
  return shape.length > 120 ? `${shape.slice(0, 120)}…` : shape;
}

function isDigits(seg: string): boolean {
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
