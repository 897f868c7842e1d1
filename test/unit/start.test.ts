// The executables' first module: `--help` and `--version` alone are answered from text prepared at build
// time, which must be exactly what the program itself prints; and the compile cache never fails a run.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram as alertsProgram } from '../../src/commands/alerts.js';
import { buildProgram as fetchLogsProgram } from '../../src/commands/fetch-logs.js';
import { buildProgram as metricsProgram } from '../../src/commands/metrics.js';
import { buildProgram as shipLogsProgram } from '../../src/commands/ship-logs.js';
import { buildIfStale, runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-start-');
after(scratch.cleanup);
before(buildIfStale);

const PROGRAMS: [Parameters<typeof runTool>[0], () => Command][] = [
  ['mizual-alerts', alertsProgram],
  ['mizual-metrics', metricsProgram],
  ['mizual-ship-logs', shipLogsProgram],
  ['mizual-fetch-logs', fetchLogsProgram],
];

/** What commander prints for --help on an 80-column output. */
function helpOf(build: () => Command): string {
  let text = '';
  build()
    .configureOutput({ writeOut: (s) => (text += s), getOutHelpWidth: () => 80 })
    .outputHelp();
  return text;
}

describe('start', () => {
  for (const [tool, build] of PROGRAMS) {
    it(`${tool} --help and -h print what the program itself prints`, async () => {
      const expected = helpOf(build);
      assert.match(expected, new RegExp(`^Usage: ${tool} `));
      for (const flag of ['--help', '-h']) {
        const result = await runTool(tool, [flag], { env: {}, cwd: scratch.dir });
        assert.equal(result.exitCode, 0, result.stderr);
        assert.equal(result.stdout.trimEnd(), expected.trimEnd());
        assert.equal(result.stderr, '');
      }
    });
  }

  it('mizual-alerts --help stays within 60 lines', () => {
    const lines = helpOf(alertsProgram).trimEnd().split('\n');
    assert.ok(lines.length <= 60, `${lines.length} lines`);
    for (const line of lines) assert.ok(line.length <= 80, line);
  });

  it('a compile cache that cannot be used never fails the run, and the state directory is left alone', async () => {
    const state = path.join(scratch.dir, 'state');
    const tmp = path.join(scratch.dir, 'tmp');
    mkdirSync(state, { recursive: true, mode: 0o700 });
    mkdirSync(tmp, { recursive: true });
    // Where the cache directory would go, a file: the cache is skipped, the run goes on.
    writeFileSync(path.join(tmp, `mizual-compile-cache-${process.getuid?.() ?? 0}`), 'not a directory');
    const env = { MIZUAL_STATE_DIR: state, MIZUAL_ALERT_LOG: path.join(scratch.dir, 'alerts.log'), TMPDIR: tmp };
    const result = await runTool('mizual-alerts', ['--no-docker', '--cpu-sample', '0', '--dry-run', '--json'], {
      env,
      cwd: scratch.dir,
    });
    assert.ok([0, 1, 2].includes(result.exitCode ?? -1), result.stderr);
    assert.equal(result.stderr, '');
    assert.equal((JSON.parse(result.stdout) as { dryRun: boolean }).dryRun, true);
    assert.deepEqual(readdirSync(state), [], 'a --dry-run writes nothing in the state directory, no cache either');
  });
});
