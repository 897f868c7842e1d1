import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { MAX_DURATION, parseDuration } from '../../src/core/units.js';
import { runTool } from '../helpers/cli.js';

describe('duration flags are bounded', () => {
  it('the default bound keeps every duration within what a Node timer can wait', () => {
    const max = parseDuration(MAX_DURATION);
    assert.ok(max <= 2 ** 31 - 1, 'setTimeout fires at once past 2^31 - 1 ms');
    assert.equal(parseDuration('24d', '--deadline'), 24 * 86_400_000);
    assert.throws(
      () => parseDuration('25d', '--deadline'),
      (err: unknown) => err instanceof UsageError && err.message === "--deadline must be at most 24d (got '25d')",
    );
    assert.throws(() => parseDuration('1e9d'), UsageError);
    assert.throws(() => parseDuration('400d', '--window', '366d'), /at most 366d/);
    assert.equal(parseDuration('366d', '--window', '366d'), 366 * 86_400_000);
  });
});

describe('each tool refuses an out-of-bound duration in one line, as a usage error', () => {
  const cases: [tool: Parameters<typeof runTool>[0], args: string[], code: number, message: RegExp][] = [
    ['mizual-ship-logs', ['--deadline', '25d'], 2, /^mizual-ship-logs: --deadline must be at most 24d \(got '25d'\)$/],
    ['mizual-ship-logs', ['--window', '400d'], 2, /^mizual-ship-logs: --window must be at most 366d \(got '400d'\)$/],
    ['mizual-alerts', ['--repeat', '30d'], 3, /--repeat must be at most 24d \(got '30d'\)$/],
    ['mizual-fetch-logs', ['--env', 'dev', '--since', '40000d'], 2, /--since must be at most 36500d/],
    ['mizual-metrics', ['--watch', '100000'], 2, /--watch must be at most 86400 \(got '100000'\)$/],
  ];
  for (const [tool, args, code, message] of cases) {
    it(`${tool} ${args.join(' ')}`, async () => {
      const result = await runTool(tool, args, { env: { MIZUAL_ENV_FILE: '/dev/null' } });
      assert.equal(result.exitCode, code, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] as string, message);
    });
  }
});
