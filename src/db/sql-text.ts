/** A query's text as we show it: literals replaced by `?`, whitespace folded, at most 200 characters. */
export function maskQuery(text: string | null, max = 200): string | null {
  if (text === null) return null;
  const masked = text
    // Dollar-quoted strings, then quoted strings (with '' and E'\'' escapes), then numbers.
    .replace(/\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$/g, '?')
    .replace(/[Ee]?'(?:[^'\\]|''|\\.)*'/g, '?')
    .replace(/(?<![\w$."])-?\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b/g, '?')
    .replace(/\s+/g, ' ')
    .trim();
  return masked.length > max ? masked.slice(0, max) : masked;
}

/** Whether the server hid the text from this role. */
export function isHidden(text: unknown): boolean {
  return typeof text === 'string' && text.startsWith('<insufficient privilege>');
}
