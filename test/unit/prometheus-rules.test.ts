// The alerting rules of examples/prometheus/ through Debian's promtool: lint, the example config,
// and the unit tests in test/prometheus/mizual-rules.test.yml (each rule fires and stays quiet); and
// through Debian's amtool, one Alertmanager route per alert serving the rules and the webhook alike.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { alertName } from '../../src/alerts/alert-name.js';
import { buildMessages } from '../../src/alerts/notify/deliver.js';
import { parseTargets } from '../../src/alerts/notify/targets.js';
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

/** Each rule's alert name and its `severity` and `check` labels, a template's `{{ … }}` filled with a sample subject. */
function ruleLabels(): { alertname: string; severity: string; check: string }[] {
  const rules: { alertname: string; severity: string; check: string }[] = [];
  let current: { alertname: string; severity: string; check: string } | null = null;
  for (const line of readFileSync(RULES, 'utf8').split('\n')) {
    const alert = /^\s+- alert: (\w+)$/.exec(line);
    if (alert?.[1]) rules.push((current = { alertname: alert[1], severity: '', check: '' }));
    const label = /^\s+(severity|check): '?([^']*)'?$/.exec(line);
    if (current && label?.[1] && label[2] !== undefined)
      current[label[1] as 'severity' | 'check'] = label[2].replace(/\{\{[^}]*\}\}/g, 'x');
  }
  return rules;
}

describe('one alert name per check (amtool)', () => {
  const rules = ruleLabels().filter((r) => r.check !== 'metrics');
  const names = [...new Set(rules.map((r) => r.alertname))];
  const dir = mkdtempSync(path.join(tmpdir(), 'mizual-am-'));
  const config = path.join(dir, 'alertmanager.yml');
  // One route per alert name, as docs/fleet.md has it: the same route must take the alert from either source.
  writeFileSync(
    config,
    [
      'route:',
      '  receiver: unrouted',
      '  routes:',
      ...names.flatMap((n) => [`    - matchers: ['alertname="${n}"']`, `      receiver: ${n}-team`]),
      'receivers:',
      '  - name: unrouted',
      ...names.map((n) => `  - name: ${n}-team`),
      '',
    ].join('\n'),
  );
  const route = (labels: Record<string, string>): string => {
    const args = [
      'config',
      'routes',
      'test',
      `--config.file=${config}`,
      ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
    ];
    const run = spawnSync('amtool', args, { encoding: 'utf8', timeout: 30_000 });
    if (run.error) throw new Error(`amtool (Debian package prometheus-alertmanager) is needed: ${run.error.message}`);
    assert.equal(run.status, 0, run.stderr);
    return run.stdout.trim();
  };
  const am = parseTargets('http://alertmanager.invalid:9093/api/v2/alerts', undefined);

  it('every rule names its alert as alertName() names its check', () => {
    assert.ok(rules.length >= 15, String(rules.length));
    for (const r of rules) assert.equal(r.alertname, alertName(r.check), `${r.alertname} for check ${r.check}`);
  });

  it("the rule's labels and the webhook's labels for the same check reach the same receiver", () => {
    try {
      for (const r of rules) {
        const [out] = buildMessages(am[0]!, { host: 'web-1', repeatMs: 3_600_000, now: new Date(), test: false }, [
          {
            at: new Date().toISOString(),
            severity: r.severity.toUpperCase() as 'WARNING' | 'CRITICAL',
            check: r.check,
            message: 'm',
            previous: 'ok',
            since: new Date().toISOString(),
            value: null,
            threshold: null,
            reminder: false,
          },
        ]);
        assert.equal(out?.kind, 'http');
        const [sent] = JSON.parse((out as { body: string }).body) as { labels: Record<string, string> }[];
        const fromRule = route({ alertname: r.alertname, severity: r.severity, check: r.check, instance: 'web-1' });
        const fromWebhook = route(sent?.labels ?? {});
        assert.equal(fromRule, `${r.alertname}-team`, `${r.check} from the rules`);
        assert.equal(fromWebhook, fromRule, `${r.check}: the webhook's ${sent?.labels.alertname} routes elsewhere`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
