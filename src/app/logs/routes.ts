/**
 * Routes: a request path with what varies per object collapsed to `:id` (numbers, UUIDs, hex hashes),
 * so `/api/v1/edits/42` and `/api/v1/edits/43` are one route and labels stay bounded.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_ID = /^(?=[^/]*\d)[0-9a-f]{8,}$/i;
/** A hash inside a segment (`app.3f9a8c7d1e2b.js`): 12 or more hex digits with a digit among them. */
const HEX_RUN = /(?<![0-9a-z])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}(?![0-9a-z])/gi;
/** Past this many characters a route is cut: a label must not grow without bound. */
const MAX_ROUTE = 120;

/** The route of a path (no query string): `/api/v1/edits/42` → `/api/v1/edits/:id`. */
export function collapseRoute(path: string): string {
  if (path === '' || path[0] !== '/') return path === '*' ? '*' : 'other';
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i] as string;
    if (seg === '') continue;
    if (isDigits(seg) || UUID.test(seg) || HEX_ID.test(seg)) parts[i] = ':id';
    else if (seg.length >= 12) parts[i] = seg.replace(HEX_RUN, ':id');
  }
  const route = parts.join('/');
  return route.length > MAX_ROUTE ? `${route.slice(0, MAX_ROUTE)}…` : route;
}

function isDigits(seg: string): boolean {
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
