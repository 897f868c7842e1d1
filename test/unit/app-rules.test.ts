/**
 * MIZUAL_APP_RULES beyond the plain regex: `/regex/flags`, and the time bound that keeps a rule which
 * backtracks catastrophically from stalling a run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchRule, parseRules, RULE_BUDGET_MS_PER_MB, rulesTurnedOff } from '../../src/app/rules.js';

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
    const rule = rules[0] as (typeof rules)[0];
    // 2^30 steps for a backtracking engine: minutes. Here the rule must stay within its budget.
    for (let i = 0; i < 5; i++) assert.equal(matchRule(rule, evil), null);
    assert.deepEqual(matchRule(rule, 'aaaa'), { label: 'aaaa', duration: null });
    assert.equal(rule.off, null, `${rule.spentMs} ms`);
    assert.deepEqual(rulesTurnedOff(rules), []);
  });

  it('with a backreference (no linear engine) it is turned off after the line that went over, one line naming it', () => {
    const { rules } = parseRules(['slow celery ^(a|a)+\\1$', 'fine celery (?<label>b)$'].join('\n'), 'r');
    const [slow, fine] = rules as [(typeof rules)[0], (typeof rules)[0]];
    const line = 'a'.repeat(22) + 'b';
    let tried = 0;
    for (let i = 0; i < 50; i++) {
      if (slow.off === null) tried++;
      assert.equal(matchRule(slow, line), null);
      assert.ok(matchRule(fine, line));
    }
    // Each try costs well over the 50 ms floor: the first one turns it off, none after it runs.
    assert.equal(tried, 1, `${slow.spentMs} ms`);
    assert.ok(slow.spentMs > RULE_BUDGET_MS_PER_MB, String(slow.spentMs));
    assert.equal(fine.off, null);
    const off = rulesTurnedOff(rules);
    assert.equal(off.length, 1);
    assert.match(
      off[0] as string,
      /^MIZUAL_APP_RULES rule slow \(line 1\) turned off for this run: \d+ ms on 23 characters, over 50 ms per MB$/,
    );
  });

  it('an ordinary rule over many megabytes stays on: the budget grows with the text', () => {
    const { rules } = parseRules('stage * STAGE COMPLETED: .*duration=(?<duration>[\\d.]+)s', 'r');
    const rule = rules[0] as (typeof rules)[0];
    const line = `STAGE COMPLETED: edit_id=1, stage=x, duration=1.5s, ${'x'.repeat(100)}`;
    let matched = 0;
    for (let i = 0; i < 40_000; i++) if (matchRule(rule, line)) matched++;
    assert.equal(matched, 40_000);
    assert.ok(rule.chars > 4 * 1024 * 1024, String(rule.chars));
    assert.equal(rule.off, null, `${rule.spentMs} ms over ${rule.chars} characters`);
  });
});
