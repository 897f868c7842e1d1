import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
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
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
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

/** A fresh scratch directory (0700) removed by the returned cleanup. */
export function scratchDir(prefix = 'mizual-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
