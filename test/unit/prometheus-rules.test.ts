// The alerting rules of examples/prometheus/ through Debian's promtool: lint, the example config,
// and the unit tests in test/prometheus/mizual-rules.test.yml (each rule fires and stays quiet).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/cli.js';

const RULES = path.join(ROOT, 'examples/prometheus/mizual-rules.yml');
const TESTS = path.join(ROOT, 'test/prometheus/mizual-rules.test.yml');

function promtool(args: string[], cwd = ROOT): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`promtool (Debian package prometheus) is needed: ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('Prometheus alerting rules (promtool)', () => {
  it('the rules pass promtool check rules with its linter on', () => {
    const result = promtool(['check', 'rules', RULES]);
    assert.equal(result.status, 0, result.output);
    assert.match(result.output, /SUCCESS: \d+ rules found/);
  });

  it('the example prometheus.yml is valid and loads the rules', () => {
    const result = promtool(['check', 'config', 'prometheus.yml'], path.join(ROOT, 'examples/prometheus'));
    assert.equal(result.status, 0, result.output);
    assert.match(result.output, /Checking mizual-rules\.yml\s+SUCCESS/);
  });

  it('every alert has a promtool unit test, and they all pass', () => {
    const alerts = new Set([...readFileSync(RULES, 'utf8').matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]));
    const tested = new Set([...readFileSync(TESTS, 'utf8').matchAll(/^\s+alertname: (\w+)$/gm)].map((m) => m[1]));
    assert.ok(alerts.size >= 8, [...alerts].join(', '));
    for (const name of alerts) assert.ok(tested.has(name), `${name} has no test in ${TESTS}`);
    const result = promtool(['test', 'rules', path.basename(TESTS)], path.dirname(TESTS));
    assert.equal(result.status, 0, result.output);
    assert.match(result.output, /SUCCESS/);
  });

  it('a rule that fires where it should not fails the unit tests (the tests can fail)', () => {
    // Same tests, memory threshold lowered to 80: web-2's steady 85% must now raise an alert nobody expects.
    const dir = mkdtempSync(path.join(tmpdir(), 'mizual-rules-'));
    try {
      const rules = readFileSync(RULES, 'utf8').replace('used_percent > 85', 'used_percent > 80');
      mkdirSync(path.join(dir, 'examples/prometheus'), { recursive: true });
      mkdirSync(path.join(dir, 'test/prometheus'), { recursive: true });
      writeFileSync(path.join(dir, 'examples/prometheus/mizual-rules.yml'), rules);
      copyFileSync(TESTS, path.join(dir, 'test/prometheus/mizual-rules.test.yml'));
      const result = promtool(['test', 'rules', 'mizual-rules.test.yml'], path.join(dir, 'test/prometheus'));
      assert.equal(result.status, 1, result.output);
      assert.match(result.output, /alertname: MizualMemory[\s\S]*web-2/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
