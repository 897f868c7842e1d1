/**
 * MIZUAL_APP_RULES: the user's own parsing programs, one per line, `NAME CONTAINER REGEX` (CONTAINER a
 * short name or `*`, the regex in JavaScript syntax: the rest of the line). Named groups: `duration`
 * (seconds, or with a `ms`/`s`/`us` suffix inside the group), `status`, `label`. A bad line is a
 * problem naming its line number; the others still work.
 */
import { parseDurationText } from './formats.js';

export interface AppRule {
  name: string;
  /** A short container name, or `*` for every configured container. */
  container: string;
  regex: RegExp;
  line: number;
}

export interface RuleMatch {
  /** The `label` group, else the `status` group, else null. */
  label: string | null;
  duration: number | null;
}

/** Parse the rules file's text; `problems` get one line per malformed rule. */
export function parseRules(text: string, source: string): { rules: AppRule[]; problems: string[] } {
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
    try {
      regex = new RegExp(source_);
    } catch (err) {
      problems.push(`${where}: invalid regex (${(err as Error).message.replace(/^Invalid regular expression: /, '')})`);
      return;
    }
    if (seen.has(`${name} ${container}`)) {
      problems.push(`${where}: rule ${name} for ${container} is defined twice`);
      return;
    }
    seen.add(`${name} ${container}`);
    rules.push({ name, container, regex, line: i + 1 });
  });
  return { rules, problems };
}

/** Match one rule against a line's text: null when it does not match. */
export function matchRule(rule: AppRule, text: string): RuleMatch | null {
  const m = rule.regex.exec(text);
  if (!m) return null;
  const groups = m.groups ?? {};
  const label = groups['label'] ?? groups['status'] ?? null;
  const d = groups['duration'];
  return {
    label: label === null || label === undefined || label === '' ? null : label.slice(0, 64),
    duration: d ? parseDurationText(d) : null,
  };
}

/** The rules that apply to a container (by its short name). */
export function rulesFor(rules: AppRule[], short: string): AppRule[] {
  return rules.filter((r) => r.container === '*' || r.container === short);
}
