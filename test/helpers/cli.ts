import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run a built executable with a clean environment (only PATH, HOME and what the test passes). */
export async function runTool(
  tool: 'mizual-metrics' | 'mizual-alerts' | 'mizual-ship-logs' | 'mizual-fetch-logs',
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    // The shipper's hold goes on Docker's mount; one per test process, removed when it exits.
    MIZUAL_HOLD_DIR: testHoldDir(),
  };
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  const result = await execa(process.execPath, [path.join(ROOT, 'bin', `${tool}.js`), ...args], {
    env,
    extendEnv: false,
    cwd: options.cwd ?? ROOT,
    reject: false,
    timeout: options.timeoutMs ?? 60_000,
    stdin: 'ignore',
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

let holdDir: string | undefined;
/** A hold directory for this test process under Docker's data root (or the temp dir without one). */
export function testHoldDir(): string {
  if (holdDir === undefined) {
    const root = existsSync('/var/lib/docker') ? '/var/lib/docker' : tmpdir();
    const dir = path.join(root, `mizual-test-hold-${process.pid}`);
    holdDir = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return holdDir;
}

/** A fresh scratch directory (0700) removed by the returned cleanup. */
export function scratchDir(prefix = 'mizual-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Newest modification time among the files under dir (recursively). */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Run `node scripts/build.mjs` unless every bundle in dist/ and man/ is newer than src/, docs/, package.json and the build scripts. */
export async function buildIfStale(): Promise<void> {
  const tools = ['metrics', 'alerts', 'ship-logs', 'fetch-logs'];
  const bundles = [
    ...tools.map((name) => path.join(ROOT, 'dist', `${name}.js`)),
    // The man pages are built from docs/ by the same script.
    ...tools.map((name) => path.join(ROOT, 'man', `mizual-${name}.1`)),
  ];
  const inputs = Math.max(
    newestMtime(path.join(ROOT, 'src')),
    newestMtime(path.join(ROOT, 'docs')),
    statSync(path.join(ROOT, 'package.json')).mtimeMs,
    statSync(path.join(ROOT, 'scripts', 'build.mjs')).mtimeMs,
    statSync(path.join(ROOT, 'scripts', 'man.mjs')).mtimeMs,
  );
  if (bundles.every((file) => existsSync(file) && statSync(file).mtimeMs > inputs)) return;
  // A failed build rejects with the build's own stderr.
  await execa(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT });
}
