/**
 * MIZUAL_APP_RULES against a real container's json-file log: a `/regex/i` rule, a rule with a
 * backreference that backtracks catastrophically on the evil lines (no linear engine can take it: it
 * must be turned off after the line that went over, with one line naming it), and a nested quantifier
 * that would take minutes on those lines without V8's linear-time fallback.
 */
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerAvailable, removeContainers, startContainer, uniqueName } from '../harness/docker.js';
import { buildIfStale, runTool, scratchDir, type CliResult } from '../helpers/cli.js';

const STAGES = 100;
const EVIL = 40;
// 23 × a then b: about a second per line for ^(a|a)+\1$ here, doubling with each further a.
const EVIL_LINE = `${'a'.repeat(23)}b`;
const scratch = scratchDir('mizual-app-rules-');
const name = uniqueName('rules');
let haveDocker = false;
let alerts: CliResult;
let metrics: CliResult;

before(async () => {
  haveDocker = await dockerAvailable();
  if (!haveDocker) return;
  await buildIfStale();
  const script = [
    `i=0; while [ $i -lt ${STAGES} ]; do echo "STAGE COMPLETED: edit_id=$i, stage=flux_api, duration=1.5s"; i=$((i+1)); done`,
    `i=0; while [ $i -lt ${EVIL} ]; do echo ${EVIL_LINE}; i=$((i+1)); done`,
    'echo written; sleep 3600',
  ].join('; ');
  await startContainer(name, script);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const logs = await execa('docker', ['logs', name], { reject: false });
    if (/^written$/m.test(String(logs.stdout))) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const rules = path.join(scratch.dir, 'rules.txt');
  writeFileSync(
    rules,
    [
      '# stage lines, whatever the case',
      'stage * /stage completed: edit_id=\\d+, stage=(?<label>\\w+)/i',
      'evil app ^(a|a)+\\1$',
      'nested app ^(a+)+$',
    ].join('\n'),
  );
  const env = {
    MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(scratch.dir, 'alerts.log'),
    MIZUAL_CONTAINERS: `app=${name}`,
    MIZUAL_APP_RULES: rules,
  };
  alerts = await runTool('mizual-alerts', ['--json', '--cpu-sample', '0', '--app-window', '1h'], {
    env,
    cwd: scratch.dir,
    timeoutMs: 120_000,
  });
  metrics = await runTool('mizual-metrics', ['--json', '--app-window', '1h'], { env, cwd: scratch.dir });
});

after(async () => {
  if (haveDocker) await removeContainers([name]);
  scratch.cleanup();
});

describe('MIZUAL_APP_RULES on a real log', () => {
  it('the catastrophic rule is turned off with one line naming it; app-rules UNKNOWN; the nested one stays on', (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    assert.equal(alerts.exitCode, 3, alerts.stderr);
    const lines = alerts.stderr.split('\n').filter(Boolean);
    const off = lines.filter((l) => l.includes('turned off'));
    assert.equal(off.length, 1, alerts.stderr);
    assert.match(
      off[0] ?? '',
      /^mizual-alerts: MIZUAL_APP_RULES rule evil \(line 3\) turned off for this run: \d+ ms on \d+ characters, over 50 ms per MB$/,
    );
    const checks = (JSON.parse(alerts.stdout) as { checks: { check: string; status: string; message: string }[] })
      .checks;
    const rulesCheck = checks.find((c) => c.check === 'app-rules');
    assert.equal(rulesCheck?.status, 'unknown');
    assert.match(rulesCheck?.message ?? '', /rule evil \(line 3\) turned off/);
  });

  it('every stage line is counted by the /i rule; the nested rule saw no match and cost no stall', (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    assert.equal(metrics.exitCode, 0, metrics.stderr);
    const app = (
      JSON.parse(metrics.stdout) as {
        app: { rules: { name: string; label: string | null; count: number }[]; problems: string[] };
      }
    ).app;
    assert.deepEqual(
      app.rules.map((r) => [r.name, r.label, r.count]),
      [['stage', 'flux_api', STAGES]],
    );
    assert.ok(!app.problems.some((p) => p.includes('rule nested')), app.problems.join('\n'));
  });
});
