/**
 * The `.env` syntax of the app's own loaders: python-dotenv's grammar, step for step (so a value
 * means here what it means to the app), where docker compose agrees. In particular `#` starts a
 * comment only at the start of a line or after whitespace: `S3_SECRET_ACCESS_KEY=ab#cd` is `ab#cd`
 * (Node's util.parseEnv cuts it to `ab`, and every signature then fails). Quotes: single quotes are
 * literal (`\'` and `\\` aside), double quotes take `\n`, `\t`, `\"`, `\\` and friends and may span
 * lines; `export ` prefixes, CRLF, `KEY=` (empty) and `${NAME}` / `${NAME:-default}` in unquoted and
 * double-quoted values (from the file's earlier keys, then the environment). Where the two loaders
 * differ, single quotes stay literal (compose, and the shell) and `${NAME:-x}` means python-dotenv's
 * "x when NAME is not set".
 * Nothing here touches `process.env`.
 */

class DotenvSyntaxError extends Error {}

/** One sticky pattern per token, as python-dotenv's parser reads them. */
const TOKEN = {
  multilineWhitespace: /\s*/y,
  whitespace: /[^\S\r\n]*/y,
  exportPrefix: /(?:export[^\S\r\n]+)?/y,
  singleQuotedKey: /'([^']+)'/y,
  unquotedKey: /([^=#\s]+)/y,
  equalSign: /(=[^\S\r\n]*)/y,
  singleQuotedValue: /'((?:\\'|[^'])*)'/y,
  doubleQuotedValue: /"((?:\\"|[^"])*)"/y,
  unquotedValue: /([^\r\n]*)/y,
  comment: /(?:[^\S\r\n]*#[^\r\n]*)?/y,
  endOfLine: /[^\S\r\n]*(?:\r\n|\n|\r|$)/y,
  restOfLine: /[^\r\n]*(?:\r|\n|\r\n)?/y,
};

const DOUBLE_QUOTE_ESCAPES = /\\[\\'"abfnrtv]/g;
const SINGLE_QUOTE_ESCAPES = /\\[\\']/g;
const ESCAPED: Record<string, string> = {
  '\\\\': '\\',
  "\\'": "'",
  '\\"': '"',
  '\\a': '\x07',
  '\\b': '\b',
  '\\f': '\f',
  '\\n': '\n',
  '\\r': '\r',
  '\\t': '\t',
  '\\v': '\v',
};
const VARIABLE = /\$\{([^}:]*)(?::-([^}]*))?\}/g;

class Reader {
  position = 0;
  constructor(readonly text: string) {}

  get hasNext(): boolean {
    return this.position < this.text.length;
  }

  peek(): string {
    return this.text.charAt(this.position);
  }

  read(token: RegExp): RegExpExecArray {
    token.lastIndex = this.position;
    const match = token.exec(this.text);
    if (!match) throw new DotenvSyntaxError();
    this.position = token.lastIndex;
    return match;
  }
}

interface Value {
  text: string;
  /** Single-quoted: taken literally, never interpolated. */
  literal: boolean;
}

function readValue(reader: Reader): Value {
  const first = reader.peek();
  if (first === "'") {
    const raw = reader.read(TOKEN.singleQuotedValue)[1] as string;
    return { text: raw.replace(SINGLE_QUOTE_ESCAPES, (e) => ESCAPED[e] as string), literal: true };
  }
  if (first === '"') {
    const raw = reader.read(TOKEN.doubleQuotedValue)[1] as string;
    return { text: raw.replace(DOUBLE_QUOTE_ESCAPES, (e) => ESCAPED[e] as string), literal: false };
  }
  if (first === '' || first === '\n' || first === '\r') return { text: '', literal: false };
  const raw = reader.read(TOKEN.unquotedValue)[1] as string;
  // `#` after whitespace starts a comment; anywhere else it belongs to the value.
  return { text: raw.replace(/\s+#.*/, '').trimEnd(), literal: false };
}

/** One statement: a key and its value, a key alone (no value), or nothing (blank, comment, bad line). */
function readBinding(reader: Reader): { key: string; value: Value | undefined } | undefined {
  try {
    reader.read(TOKEN.multilineWhitespace);
    if (!reader.hasNext) return undefined;
    reader.read(TOKEN.exportPrefix);
    let key: string | undefined;
    if (reader.peek() === "'") key = reader.read(TOKEN.singleQuotedKey)[1];
    else if (reader.peek() !== '#') key = reader.read(TOKEN.unquotedKey)[1];
    reader.read(TOKEN.whitespace);
    let value: Value | undefined;
    if (reader.peek() === '=') {
      reader.read(TOKEN.equalSign);
      value = readValue(reader);
    }
    reader.read(TOKEN.comment);
    reader.read(TOKEN.endOfLine);
    return key === undefined ? undefined : { key, value };
  } catch (err) {
    if (!(err instanceof DotenvSyntaxError)) throw err;
    // A line that is not a statement is skipped, as the app's loader skips it.
    reader.read(TOKEN.restOfLine);
    return undefined;
  }
}

/**
 * The variables a `.env` text sets (a key without `=` sets nothing; a later key wins). `${NAME}` is
 * resolved from the file's earlier keys, then from `env`.
 */
export function parseDotenv(text: string, env: NodeJS.ProcessEnv = {}): Map<string, string> {
  const values = new Map<string, string>();
  const reader = new Reader(text);
  while (reader.hasNext) {
    const binding = readBinding(reader);
    if (!binding?.value) continue;
    const { text: raw, literal } = binding.value;
    const resolved = literal
      ? raw
      : raw.replace(VARIABLE, (_, name: string, fallback: string | undefined) => {
          // python-dotenv's rule: the default stands in only for a name that is not set at all.
          const found = values.has(name) ? values.get(name) : env[name];
          return found ?? fallback ?? '';
        });
    values.set(binding.key, resolved);
  }
  return values;
}
