/**
 * The output examples of the docs that must agree with a real run: each is a fenced block right after
 * an `<!-- example: NAME -->` line in its page. `shape` reduces a tool's output (the example's or a real
 * run's) to what may not drift: step names, line kinds, column headers; the values may differ.
 * test/unit/docs.test.ts checks every marker names an example here; test/e2e/docs-examples.test.ts
 * compares each with a real run.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.js';

export interface DocExample {
  /** Page holding the example, from the repository root. */
  file: string;
  /** What must be the same in the example and in a real run. */
  shape: (output: string) => string[];
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

/** `ok    container celery: …` → `container`, each run of equal steps once, the verdict as `verdict`. */
function checkSteps(output: string): string[] {
  const steps: string[] = [];
  for (const line of lines(output)) {
    const step = /^(?:ok|FAIL|warn|skip)\s+([^:]+):/.exec(line)?.[1]?.replace(/^container .*/, 'container');
    const name = step ?? (line.startsWith('verdict:') ? 'verdict' : `unexpected line: ${line}`);
    if (steps.at(-1) !== name) steps.push(name);
  }
  return steps;
}

export const DOC_EXAMPLES: Record<string, DocExample> = {
  'ship-check': { file: 'docs/troubleshooting.md', shape: checkSteps },
  'ship-dry-run': {
    file: 'docs/ship-logs.md',
    shape: (output) =>
      lines(output).map((l) =>
        l
          .replace(
            /^dry run: window ending \S+; nothing written or uploaded$/,
            'dry run: window ending T; nothing written or uploaded',
          )
          .replace(
            /^would upload to s3:\/\/[a-z0-9.-]+\/logs\/(dev|prod)\/[\w.-]+\/\d{4}-\d\d-\d\d\/logs-\d{8}_\d{6}\.tar\.gz$/,
            'would upload to s3://BUCKET/logs/ENV/HOST/DATE/logs-STAMP.tar.gz',
          )
          .replace(
            /^ {2}[\w.-]+-\d{8}_\d{6}\.log \S+ \.\. \S+ from .+$/,
            '  SHORT-STAMP.log SINCE .. UNTIL from SOURCE',
          )
          .replace(/^ {2}alert log: [\d.]+ \S+ not shipped yet$/, '  alert log: SIZE not shipped yet')
          .replace(/^hold \/\S+: \d+ container\(s\), [\d.]+ \S+$/, 'hold DIR: N container(s), SIZE'),
      ),
  },
  'alert-log': {
    file: 'docs/alerts.md',
    shape: (output) =>
      lines(output).map((l) =>
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (WARNING|CRITICAL|RESOLVED) [\w:./-]+: \S.*$/.test(l)
          ? 'TIME SEVERITY check: message'
          : l,
      ),
  },
  'test-notification': {
    file: 'docs/alerts.md',
    shape: (output) =>
      lines(output).map((l) =>
        l
          .replace(
            /^(ok {4}|FAIL {2})[a-z]+ (https?:\/\/[^/\s]+(\/\*\*\*|\/bot\*\*\*\/sendMessage|\/api\/v2\/alerts)?|mailto:(\*\*\*@[\w.-]+,?)+): .+$/,
            'STATUS FORMAT MASKED-TARGET: ANSWER',
          )
          .replace(/^verdict: (all \d+ targets answered|\d+ of \d+ targets failed)$/, 'verdict'),
      ),
  },
  'metrics-dashboard': {
    file: 'README.md',
    // The column headers of each table, spacing aside, without the columns shown only sometimes (`health`
    // when some container on the engine has a health check, `use% 1h` once there is a history).
    shape: (output) =>
      lines(output)
        .filter((l) => /^(filesystem|interface|container) /.test(l))
        .map((l) =>
          l
            .trim()
            .split(/\s{2,}/)
            .filter((c) => c !== 'health' && c !== 'use% 1h')
            .join(' | '),
        ),
  },
};

/** The fenced block after `<!-- example: NAME -->` in its page. */
export function docExample(name: string): string {
  const example = DOC_EXAMPLES[name];
  if (!example) throw new Error(`no doc example ${name}`);
  const text = readFileSync(path.join(ROOT, example.file), 'utf8');
  const match = new RegExp(`<!-- example: ${name} -->\\n+\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``).exec(text);
  if (!match?.[1]) throw new Error(`${example.file} has no block after <!-- example: ${name} -->`);
  return match[1];
}
