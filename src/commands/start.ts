/**
 * What every executable loads first, and all it loads for `--help` and `--version`: the help text is
 * written at build time from the real program (dist/help/<tool>.txt), so printing it loads no bundle.
 * Anything else loads the tool's bundle, with Node's compile cache on where it can be.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VERSION } from '../core/version.js';

const TOOLS = {
  alerts: () => import('./alerts.js'),
  metrics: () => import('./metrics.js'),
  'ship-logs': () => import('./ship-logs.js'),
  'fetch-logs': () => import('./fetch-logs.js'),
};

/** Run one executable: `--help`/`--version` alone are answered here, everything else by the tool. */
export async function start(tool: keyof typeof TOOLS, argv: string[]): Promise<void> {
  const args = argv.slice(2);
  const only = args.length === 1 ? args[0] : undefined;
  if (only === '--version' || only === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  // The prepared text is laid out for 80 columns: a narrower terminal gets commander's own layout.
  if ((only === '--help' || only === '-h') && !(process.stdout.isTTY && process.stdout.columns < 80)) {
    const text = readPreparedHelp(tool);
    if (text !== null) {
      process.stdout.write(text);
      return;
    }
  }
  enableCompileCache();
  await (await TOOLS[tool]()).run(argv);
}

function readPreparedHelp(tool: string): string | null {
  try {
    return readFileSync(new URL(`./help/${tool}.txt`, import.meta.url), 'utf8');
  } catch {
    return null;
  }
}

/**
 * Node's compile cache (Node 22.1+) in a private directory of the OS temp dir, per user: never in
 * MIZUAL_STATE_DIR, whose contents are the tools' state (a refused second run must change nothing there).
 * Never fails the run: a cache that cannot be used is skipped.
 */
function enableCompileCache(): void {
  try {
    const enable = (module as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
    if (typeof enable !== 'function') return;
    const uid = process.getuid?.() ?? 0;
    const dir = path.join(tmpdir(), `mizual-compile-cache-${uid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Compiled code is only taken from a directory nobody else can write.
    const st = statSync(dir);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) return;
    enable(dir);
  } catch {
    // No cache: the run only starts a little slower.
  }
}
