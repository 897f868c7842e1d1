// MIZUAL_APP_RULES' time bound (issue 28), measured side by side in one run, in process:
//   1. Overhead: a typical rule over BENCH_LINES lines through matchRules (each regex timed, budget
//      checked) vs matchRule alone, untimed, which is what the scanner did before (the baseline).
//   2. A catastrophic rule with a backreference (no linear engine) over 1,000 lines: the time until it
//      is turned off, against one line's own time (the bound is "about one line").
//   3. A nested quantifier without backreferences, ^(a+)+$, over 1,000 lines: finished by V8's
//      linear-time fallback, against the same regex on 20 such lines in a child process without it.
// Run: node --import tsx bench/app-rules.mjs. Prints a table and writes bench/results/app-rules.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { matchRule, matchRules, parseRules } from '../src/app/logs/rules.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lines = Number(process.env.BENCH_LINES ?? 1_000_000);
const runs = Number(process.env.BENCH_RUNS ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const text = Array.from(
  { length: 1000 },
  (_, i) =>
    `STAGE COMPLETED: edit_id=${i}, stage=${i % 3 ? 'flux_api' : 'upscale'}, duration=${(i / 100).toFixed(3)}s, n=${i}`,
);
const rule = 'stage * STAGE COMPLETED: edit_id=\\d+, stage=(?<label>\\w+), duration=(?<duration>[\\d.]+s)';

function bare() {
  const r = parseRules(rule, 'bench').rules[0];
  let n = 0;
  const t = performance.now();
  for (let i = 0; i < lines; i++) if (matchRule(r, text[i % 1000])) n++;
  return [performance.now() - t, n];
}
function timed() {
  const rules = parseRules(rule, 'bench').rules;
  let n = 0;
  const count = () => n++;
  const t = performance.now();
  for (let i = 0; i < lines; i++) matchRules(rules, text[i % 1000], count);
  if (rules[0].off) throw new Error(rules[0].off);
  return [performance.now() - t, n];
}
const a = [];
const b = [];
for (let i = 0; i < runs; i++) {
  a.push(bare()[0]);
  b.push(timed()[0]);
}

const evil = 'a'.repeat(21) + 'b';
const backRules = parseRules('slow * ^(a|a)+\\1$', 'bench').rules;
const back = backRules[0];
const one = performance.now();
/^(a|a)+\1$/.exec(evil);
const oneLineMs = performance.now() - one;
const t2 = performance.now();
for (let i = 0; i < 1000; i++) matchRules(backRules, evil, () => undefined);
const untilOffMs = performance.now() - t2;

const nestedRules = parseRules('nested * ^(a+)+$', 'bench').rules;
const nested = nestedRules[0];
const evil2 = 'a'.repeat(26) + 'b';
const t3 = performance.now();
for (let i = 0; i < 1000; i++) matchRules(nestedRules, evil2, () => undefined);
const nestedMs = performance.now() - t3;
const child = spawnSync(
  process.execPath,
  [
    '-e',
    `const re=/^(a+)+$/; const s='a'.repeat(26)+'b'; const t=performance.now(); for(let i=0;i<20;i++) re.exec(s); console.log(performance.now()-t)`,
  ],
  { encoding: 'utf8' },
);
const without20 = Number(child.stdout.trim());

const result = {
  lines,
  runs,
  untimedMs: median(a),
  timedMs: median(b),
  overhead: median(b) / median(a),
  backreference: { oneLineMs, thousandLinesUntilOffMs: untilOffMs, turnedOff: back.off !== null },
  nested: {
    thousandLinesWithFallbackMs: nestedMs,
    twentyLinesWithoutFallbackMs: without20,
    stayedOn: nested.off === null,
  },
};
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/app-rules.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(`rules over ${lines} lines (median of ${runs})`);
console.log(`  matchRule, untimed (baseline)     ${result.untimedMs.toFixed(0)} ms`);
console.log(`  matchRules, timed and budgeted    ${result.timedMs.toFixed(0)} ms  (${result.overhead.toFixed(2)}x)`);
console.log(
  `^(a|a)+\\1$ on 1000 evil lines      ${untilOffMs.toFixed(0)} ms until turned off; one line alone ${oneLineMs.toFixed(0)} ms`,
);
console.log(
  `^(a+)+$ on 1000 evil lines          ${nestedMs.toFixed(1)} ms with the fallback; 20 lines without it ${without20.toFixed(0)} ms`,
);
