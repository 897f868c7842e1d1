/**
 * MIZUAL_APP_RULES beyond the plain regex: `/regex/flags`, and the time bound that keeps a rule which
 * backtracks catastrophically from stalling a run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  matchRule,
  matchRules,
  parseRules,
  RULE_BUDGET_MS_PER_MB,
  rulesTurnedOff,
  type AppRule,
} from '../../src/app/logs/rules.js';

/** The rules that matched a line, through the timed path the scanner uses. */
const matched = (rules: AppRule[], text: string): string[] => {
  const names: string[] = [];
  matchRules(rules, text, (rule) => names.push(rule.name));
  return names;
};

describe('MIZUAL_APP_RULES regex forms', () => {
  it('`/regex/i` matches whatever the case; a bare regex keeps its slashes', () => {
    const { rules, problems } = parseRules(
      ['done * /task (?<label>\\w+) DONE/i', 'path * /api/(?<label>\\w+)/'].join('\n'),
      'r',
    );
    assert.deepEqual(problems, []);
    const [done, path] = rules as [(typeof rules)[0], (typeof rules)[0]];
    assert.equal(done.regex.flags, 'i');
    assert.deepEqual(matchRule(done, 'Task resize done'), { label: 'resize', duration: null });
    // `/api/(…)/` has no flags after the last slash: it is the pattern /api/(…) between slashes.
    assert.deepEqual(matchRule(path, 'GET /api/items/ 200'), { label: 'items', duration: null });
  });

  it('g and y are dropped (a rule matches each line from its start); an unknown flag names its line', () => {
    const { rules, problems } = parseRules(['ok * /ok/gi', 'bad * /x/q'].join('\n'), 'rules.txt');
    assert.equal(rules[0]?.regex.flags, 'i');
    assert.ok(matchRule(rules[0] as (typeof rules)[0], 'OK one'));
    assert.ok(matchRule(rules[0] as (typeof rules)[0], 'OK two'));
    assert.deepEqual(problems, ["rules.txt line 2: unknown regex flags 'q' (JavaScript's are d, i, m, s, u, v)"]);
  });
});

describe('a rule that backtracks catastrophically', () => {
  const evil = 'a'.repeat(30) + 'b';

  it('without backreferences it finishes in V8 linear-time engine and stays on, with the right answer', () => {
    const { rules } = parseRules('nested * ^(?<label>a+)+$', 'r');
    const rule = rules[0] as AppRule;
    // 2^30 steps for a backtracking engine: minutes. Here the rule must stay within its budget.
    for (let i = 0; i < 5; i++) assert.deepEqual(matched(rules, evil), []);
    assert.deepEqual(matched(rules, 'aaaa'), ['nested']);
    assert.equal(rule.off, null, `${rule.spentMs} ms`);
    assert.deepEqual(rulesTurnedOff(rules), []);
  });

  it('with a backreference (no linear engine) it is turned off after the line that went over, one line naming it', () => {
    const { rules } = parseRules(['slow celery ^(a|a)+\\1$', 'fine celery (?<label>b)$'].join('\n'), 'r');
    const [slow, fine] = rules as [AppRule, AppRule];
    const line = 'a'.repeat(23) + 'b';
    let tried = 0;
    let lastLineMs = 0;
    for (let i = 0; i < 100; i++) {
      const before = slow.spentMs;
      if (slow.off === null) tried++;
      assert.deepEqual(matched(rules, line), ['fine']);
      if (slow.spentMs > before) lastLineMs = slow.spentMs - before;
    }
    // Turned off once past the 500 ms floor: what it cost is the floor plus the one line that crossed it.
    assert.ok(slow.off !== null && tried < 100, `${tried} tries, ${slow.spentMs} ms`);
    assert.ok(slow.spentMs > 10 * RULE_BUDGET_MS_PER_MB, String(slow.spentMs));
    assert.ok(slow.spentMs - lastLineMs <= 10 * RULE_BUDGET_MS_PER_MB, `${slow.spentMs} ms, last line ${lastLineMs}`);
    assert.equal(fine.off, null);
    const off = rulesTurnedOff(rules);
    assert.equal(off.length, 1);
    assert.match(
      off[0] as string,
      /^MIZUAL_APP_RULES rule slow \(line 1\) turned off for this run: \d+ ms on \d+ characters, over 50 ms per MB$/,
    );
  });

  it('an ordinary rule over many megabytes stays on: the budget grows with the text', () => {
    const { rules } = parseRules('stage * STAGE COMPLETED: .*duration=(?<duration>[\\d.]+)s', 'r');
    const rule = rules[0] as AppRule;
    const line = `STAGE COMPLETED: edit_id=1, stage=x, duration=1.5s, ${'x'.repeat(100)}`;
    let count = 0;
    for (let i = 0; i < 100_000; i++) count += matched(rules, line).length;
    assert.equal(count, 100_000);
    assert.ok(rule.chars > 14 * 1024 * 1024, String(rule.chars));
    assert.equal(rule.off, null, `${rule.spentMs} ms over ${rule.chars} characters`);
  });
});
