/**
 * MIZUAL_APP_RULES: the user's own parsing programs, one per line, `NAME CONTAINER REGEX` (CONTAINER a
 * short name or `*`, the regex in JavaScript syntax: the rest of the line, or `/regex/flags`). Named
 * groups: `duration` (seconds, or with a `ms`/`s`/`us` suffix inside the group), `status`, `label`. A
 * bad line is a problem naming its line number; the others still work.
 *
 * A user's regex can backtrack catastrophically, and JavaScript cannot interrupt a match once it has
 * started. Two bounds: V8 is told to finish a match that backtracks too much with its linear-time
 * engine (every regex without backreferences or lookaround), and each rule's own matching time is
 * counted, so a rule slower than RULE_BUDGET_MS_PER_MB is turned off for the rest of the run.
 */
import v8 from 'node:v8';
import { parseDurationText } from './formats.js';

/** A rule that spends more than this per MB of text it was given is turned off for the run. */
export const RULE_BUDGET_MS_PER_MB = 50;
const MB = 1024 * 1024;
/**
 * A rule is judged on at least this much text's budget (500 ms): below it the first thousands of
 * calls (the engine's warm-up, a clock read that is slow until optimised) and a busy moment on a small
 * server weigh more than the regex itself.
 */
const MIN_JUDGED_MB = 10;
/** Backtracks before V8 goes over to its linear-time engine (its own default is 50,000). */
const BACKTRACKS_BEFORE_FALLBACK = 10_000;
const FLAGS = /^[dgimsuyv]*$/;
let linearFallback = false;

export interface AppRule {
  name: string;
  /** A short container name, or `*` for every configured container. */
  container: string;
  regex: RegExp;
  line: number;
  /** Milliseconds spent matching and characters matched against, this run. */
  spentMs: number;
  chars: number;
  /** Set (one line naming the rule) once it went over its time budget: it matches nothing more. */
  off: string | null;
}

export interface RuleMatch {
  /** The `label` group, else the `status` group, else null. */
  label: string | null;
  duration: number | null;
}

/** Parse the rules file's text; `problems` get one line per malformed rule. */
export function parseRules(text: string, source: string): { rules: AppRule[]; problems: string[] } {
  useLinearFallback();
  const rules: AppRule[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source} line ${i + 1}`;
    const m = /^(\S+)\s+(\S+)\s+(.+)$/.exec(line);
    if (!m) {
      problems.push(`${where}: expected NAME CONTAINER REGEX`);
      return;
    }
    const [, name, container, source_] = m as unknown as [string, string, string, string];
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) {
      problems.push(`${where}: rule name '${name}' must be letters, digits and _ (a Prometheus label value)`);
      return;
    }
    if (container !== '*' && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(container)) {
      problems.push(`${where}: container '${container}' must be a short name or *`);
      return;
    }
    let regex: RegExp;
    // `/regex/flags` (flags such as `i`); anything else is the regex itself, slashes and all.
    const slashed = /^\/(.*)\/([a-z]*)$/.exec(source_);
    const [pattern, flags] = slashed ? [slashed[1] as string, slashed[2] as string] : [source_, ''];
    if (!FLAGS.test(flags)) {
      problems.push(`${where}: unknown regex flags '${flags}' (JavaScript's are d, i, m, s, u, v)`);
      return;
    }
    try {
      // g and y would make exec() remember where it stopped from one line to the next.
      regex = new RegExp(pattern, flags.replace(/[gy]/g, ''));
    } catch (err) {
      problems.push(`${where}: invalid regex (${(err as Error).message.replace(/^Invalid regular expression: /, '')})`);
      return;
    }
    if (seen.has(`${name} ${container}`)) {
      problems.push(`${where}: rule ${name} for ${container} is defined twice`);
      return;
    }
    seen.add(`${name} ${container}`);
    rules.push({ name, container, regex, line: i + 1, spentMs: 0, chars: 0, off: null });
  });
  return { rules, problems };
}

/** Match one rule against a line's text: null when it does not match. */
export function matchRule(rule: AppRule, text: string): RuleMatch | null {
  const m = rule.regex.exec(text);
  return m ? readMatch(m) : null;
}

function readMatch(m: RegExpExecArray): RuleMatch {
  const groups = m.groups ?? {};
  const label = groups['label'] ?? groups['status'] ?? null;
  const d = groups['duration'];
  return {
    label: label === null || label === undefined || label === '' ? null : label.slice(0, 64),
    duration: d ? parseDurationText(d) : null,
  };
}

/**
 * Match every rule that is still on against a line, timing each regex, and turn off a rule past its
 * budget: checked after each line, so the line that tips it over still counts. `onMatch` is called
 * for each rule that matched.
 */
export function matchRules(
  rules: readonly AppRule[],
  text: string,
  onMatch: (rule: AppRule, match: RuleMatch) => void,
): void {
  for (const rule of rules) {
    if (rule.off !== null) continue;
    const started = performance.now();
    const m = rule.regex.exec(text);
    rule.spentMs += performance.now() - started;
    rule.chars += text.length;
    if (rule.spentMs > RULE_BUDGET_MS_PER_MB * Math.max(MIN_JUDGED_MB, rule.chars / MB)) turnOff(rule);
    if (m) onMatch(rule, readMatch(m));
  }
}

function turnOff(rule: AppRule): void {
  const mb = rule.chars / MB;
  rule.off =
    `MIZUAL_APP_RULES rule ${rule.name} (line ${rule.line}) turned off for this run: ` +
    `${Math.round(rule.spentMs)} ms on ${mb < 0.1 ? `${rule.chars} characters` : `${mb.toFixed(1)} MB`}, ` +
    `over ${RULE_BUDGET_MS_PER_MB} ms per MB`;
}

/** The rules that apply to a container (by its short name). */
export function rulesFor(rules: AppRule[], short: string): AppRule[] {
  return rules.filter((r) => r.container === '*' || r.container === short);
}

/** The one-line notices of the rules turned off this run. */
export function rulesTurnedOff(rules: readonly AppRule[]): string[] {
  return rules.flatMap((r) => (r.off === null ? [] : [r.off]));
}

/**
 * Have V8 finish an overly backtracking match with its linear-time engine. Set once, before the
 * user's regexes are compiled; the results are the same, only the time is bounded.
 */
function useLinearFallback(): void {
  if (linearFallback) return;
  linearFallback = true;
  v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
  v8.setFlagsFromString(`--regexp-backtracks-before-fallback=${BACKTRACKS_BEFORE_FALLBACK}`);
}
