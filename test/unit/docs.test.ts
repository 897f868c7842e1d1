// The documentation keeps up with the tools: every flag a tool accepts is in its docs page and its man page,
// every link in README.md and docs/ reaches a file or a heading, the man pages render without a roff warning,
// every variable the tools read is in the one variables table, and the README stays a five-minute read.
import type { Command } from 'commander';
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { buildProgram as alertsProgram } from '../../src/commands/alerts.js';
import { buildProgram as fetchLogsProgram } from '../../src/commands/fetch-logs.js';
import { buildProgram as metricsProgram } from '../../src/commands/metrics.js';
import { buildProgram as shipLogsProgram } from '../../src/commands/ship-logs.js';
import { KNOWN_VARIABLES } from '../../src/core/config.js';
import { markdownToMan } from '../../scripts/man.mjs';
import { buildIfStale, ROOT } from '../helpers/cli.js';
import { DOC_EXAMPLES, docExample } from '../helpers/doc-examples.js';

const TOOLS: Record<string, () => Command> = {
  metrics: metricsProgram,
  alerts: alertsProgram,
  'ship-logs': shipLogsProgram,
  'fetch-logs': fetchLogsProgram,
};

before(buildIfStale);

/** Every long flag the program accepts, hidden ones included, and commander's own --help. */
function acceptedFlags(program: Command): string[] {
  const flags = program.options.map((o) => o.long).filter((f): f is string => typeof f === 'string');
  return [...new Set([...flags, '--help'])].sort();
}

/** Markdown without fenced code blocks (their `#` lines are not headings, their brackets not links). */
function withoutCode(markdown: string): string {
  return markdown.replace(/^ *(```|~~~)[\s\S]*?^ *\1[^\n]*$/gm, '');
}

/** The body of the `## name` section of a Markdown page (up to the next `## `). */
function markdownSection(markdown: string, name: string): string {
  const lines = withoutCode(markdown).split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${name}`);
  assert.ok(start >= 0, `no "## ${name}" section`);
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The flags named in the first cell of each table row of a section: `--flag`, `--flag VALUE`, `--flag [V]`. */
function flagsInTable(section: string): Set<string> {
  const flags = new Set<string>();
  for (const row of section.split('\n').filter((l) => l.startsWith('|'))) {
    const first = row.split(/(?<!\\)\|/)[1] ?? '';
    for (const [, flag] of first.matchAll(/`(--[a-z0-9-]+)(?=[ `[])/g)) flags.add(flag!);
  }
  return flags;
}

/** The flags tagged in the OPTIONS section of a man page (`.TP` tags in bold: `\fB\-\-flag ...\fR`). */
function flagsInManOptions(roff: string): Set<string> {
  const lines = roff.split('\n');
  const start = lines.indexOf('.SH OPTIONS');
  assert.ok(start >= 0, 'no .SH OPTIONS');
  const flags = new Set<string>();
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('.SH '); i++) {
    if (lines[i] !== '.TP') continue;
    for (const [, flag] of (lines[i + 1] ?? '').matchAll(/\\fB((?:\\-){2}[a-z0-9]+(?:\\-[a-z0-9]+)*)(?=[ [\\]|$)/g)) {
      flags.add(flag!.replace(/\\-/g, '-'));
    }
  }
  return flags;
}

/** GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/(\*\*|__)(.*?)\1/g, '$2')
    .replace(/(^|\W)[*_](.*?)[*_](?=\W|$)/g, '$1$2');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a page's headings, with GitHub's -1, -2 … for repeats. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of withoutCode(markdown).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const base = slug(text!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Inline links `[text](target)` outside code blocks and code spans. */
function links(markdown: string): string[] {
  const prose = withoutCode(markdown).replace(/`[^`\n]*`/g, '``');
  return [...prose.matchAll(/\[[^\]]*\]\(([^)\s]+)(?: +"[^"]*")?\)/g)].map((m) => m[1]!);
}

const pages = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith('.md'),
);

describe('every flag a tool accepts is documented', () => {
  for (const [tool, build] of Object.entries(TOOLS)) {
    const flags = acceptedFlags(build());

    it(`docs/${tool}.md has a row in its Options table for each of the ${flags.length} flags of mizual-${tool}`, () => {
      const page = readFileSync(path.join(ROOT, 'docs', `${tool}.md`), 'utf8');
      const documented = flagsInTable(markdownSection(page, 'Options'));
      const missing = flags.filter((f) => !documented.has(f));
      assert.deepEqual(missing, [], `add a row to the Options table of docs/${tool}.md for: ${missing.join(', ')}`);
    });

    it(`man mizual-${tool} has an OPTIONS entry for each flag`, () => {
      const roff = readFileSync(path.join(ROOT, 'man', `mizual-${tool}.1`), 'utf8');
      const documented = flagsInManOptions(roff);
      const missing = flags.filter((f) => !documented.has(f));
      assert.deepEqual(missing, [], `man/mizual-${tool}.1 (built from docs/${tool}.md) lacks: ${missing.join(', ')}`);
    });
  }

  for (const [tool, build] of Object.entries(TOOLS)) {
    it(`every flag in the Options table of docs/${tool}.md is one mizual-${tool} accepts`, () => {
      const accepted = new Set(acceptedFlags(build()));
      const page = readFileSync(path.join(ROOT, 'docs', `${tool}.md`), 'utf8');
      const stale = [...flagsInTable(markdownSection(page, 'Options'))].filter((f) => !accepted.has(f));
      assert.deepEqual(stale, [], `docs/${tool}.md documents flags mizual-${tool} does not accept`);
    });
  }

  it('a flag missing from a page is caught (the checker is not vacuous)', () => {
    const page = readFileSync(path.join(ROOT, 'docs', 'ship-logs.md'), 'utf8');
    const options = markdownSection(page, 'Options');
    assert.ok(flagsInTable(options).has('--hold'));
    const without = options
      .split('\n')
      .filter((l) => !l.startsWith('| `--hold`'))
      .join('\n');
    assert.equal(flagsInTable(without).has('--hold'), false);
  });
});

describe('the man pages', () => {
  for (const tool of Object.keys(TOOLS)) {
    it(`man/mizual-${tool}.1 renders with groff -man -ww and no warning`, async () => {
      const file = path.join(ROOT, 'man', `mizual-${tool}.1`);
      const result = await execa('groff', ['-man', '-Tutf8', '-ww', '-z', file], { reject: false });
      assert.equal(result.exitCode, 0, String(result.stderr));
      assert.equal(String(result.stderr), '', `roff warnings in ${file}`);
      const roff = readFileSync(file, 'utf8');
      const title = `MIZUAL-${tool.toUpperCase()}`.replace(/-/g, '\\-');
      assert.ok(roff.startsWith(`.TH ${title} 1 `), roff.slice(0, 80));
      for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXIT STATUS', 'EXAMPLES']) {
        assert.match(roff, new RegExp(`^\\.SH ${section}$`, 'm'), section);
      }
    });
  }
});

describe('the Markdown-to-man converter', () => {
  const sample = [
    '# mizual-sample',
    '',
    'Does one thing — well.',
    '',
    '## Options',
    '',
    '| flag | meaning |',
    '| --- | --- |',
    '| `--out DIR` | Write to DIR. Default: `./out`. |',
    '',
    '## Notes',
    '',
    'A line about a value:',
    '.5 seconds, and a quote',
    "'here', and a backslash \\ too.",
    '',
    '1. First step, see [configuration](configuration.md).',
    '   - a nested point',
    '',
    '   ```sh',
    '   mizual-sample --out /tmp/x',
    '   ```',
    '',
    '2. Second step.',
    '',
  ].join('\n');

  it('turns headings, tables, nested lists and code into man(7) that groff renders without a warning', async () => {
    const roff = markdownToMan(sample, { version: '9.9.9' });
    const result = await execa('groff', ['-man', '-Tutf8', '-ww', '-P', '-cbou'], { input: roff, reject: false });
    assert.equal(String(result.stderr), '');
    const text = String(result.stdout);
    assert.match(text, /^NAME\n\s+mizual-sample - Does one thing — well\.$/m);
    assert.match(text, /^OPTIONS\n\s+--out DIR\n\s+Write to DIR\. Default: \.\/out\.$/m);
    // Lines that roff would read as requests (a leading dot or quote) stay text; a backslash stays itself.
    assert.match(
      text.replace(/\s+/g, ' '),
      /A line about a value: \.5 seconds, and a quote 'here', and a backslash \\ too\./,
    );
    assert.match(text, /1\.\s+First step, see configuration \(docs\/configuration\.md\)\./);
    assert.match(text, /\n\s+• a nested point\n/);
    assert.match(text, /\n\s+mizual-sample --out \/tmp\/x\n/);
    assert.match(text, /2\.\s+Second step\./);
    assert.match(text, /mizual-monitoring 9\.9\.9/);
  });

  it('writes the options of a code span with real minus signs, so they can be copied', () => {
    assert.match(markdownToMan(sample, { version: '1' }), /^\\fB\\-\\-out DIR\\fR$/m);
  });
});

describe('every link in README.md and docs/ reaches a file or a heading', () => {
  for (const page of pages) {
    it(page, () => {
      const file = path.join(ROOT, page);
      const broken: string[] = [];
      for (const target of links(readFileSync(file, 'utf8'))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // a web address: not checked offline
        const [pathPart = '', anchor] = target.split('#');
        const resolved = pathPart === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(pathPart));
        if (!existsSync(resolved)) {
          broken.push(`${target}: no such file`);
          continue;
        }
        if (anchor === undefined) continue;
        if (!statSync(resolved).isFile() || !resolved.endsWith('.md')) {
          broken.push(`${target}: an anchor into something that is not a Markdown page`);
        } else if (!anchors(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(`${target}: no heading with that anchor`);
        }
      }
      assert.deepEqual(broken, []);
    });
  }

  it('the link checker sees a broken link and a wrong anchor', () => {
    assert.deepEqual(links('[a](x.md) `[b](code.md)` [c](y.md#z)\n```\n[d](block.md)\n```\n'), ['x.md', 'y.md#z']);
    assert.ok(
      anchors('## Check the whole path: `mizual-ship-logs --check`\n').has(
        'check-the-whole-path-mizual-ship-logs---check',
      ),
    );
    assert.deepEqual([...anchors('# A\n## Options\n### Options\n')], ['a', 'options', 'options-1']);
  });
});

describe('the reference lives in one place', () => {
  it('docs/configuration.md has a row for every variable the tools read', () => {
    const table = markdownSection(readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8'), 'Variables');
    const documented = new Set(
      table
        .split('\n')
        .filter((l) => l.startsWith('|'))
        .flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1])),
    );
    const missing = KNOWN_VARIABLES.filter((v) => !documented.has(v));
    assert.deepEqual(missing, []);
  });

  it('README.md is under 12 KB and links to each tool page and the configuration', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const size = Buffer.byteLength(readme);
    assert.ok(size < 12 * 1024, `README.md is ${size} bytes`);
    const targets = links(readme);
    for (const page of ['metrics', 'alerts', 'ship-logs', 'fetch-logs', 'configuration']) {
      assert.ok(targets.includes(`docs/${page}.md`), page);
    }
  });
});

describe('the output examples of the docs are tied to real runs', () => {
  const marked = pages.flatMap((page) =>
    [...readFileSync(path.join(ROOT, page), 'utf8').matchAll(/<!-- example: ([\w-]+) -->/g)].map((m) => ({
      page,
      name: m[1] ?? '',
    })),
  );

  it('each example marker names an example test/e2e/docs-examples.test.ts runs, and each such example is marked once', () => {
    for (const { page, name } of marked) {
      assert.equal(DOC_EXAMPLES[name]?.file, page, `${page}: <!-- example: ${name} --> is not in DOC_EXAMPLES`);
    }
    for (const [name, example] of Object.entries(DOC_EXAMPLES)) {
      assert.equal(marked.filter((m) => m.name === name).length, 1, `${name} marked once in ${example.file}`);
      assert.ok(docExample(name).length > 0);
    }
  });

  it("each example's own text has the shape its check expects (no line the shape cannot read)", () => {
    for (const name of Object.keys(DOC_EXAMPLES)) {
      const shape = DOC_EXAMPLES[name]!.shape(docExample(name));
      assert.ok(shape.length > 0, name);
      assert.ok(!shape.some((s) => s.startsWith('unexpected line')), `${name}: ${shape.join('\n')}`);
    }
  });
});

describe('user pages carry no bench figures, targets or issue numbers', () => {
  it('none in README.md or docs/ (docs/development.md and bench/README.md hold them)', () => {
    for (const page of pages.filter((p) => p !== 'docs/development.md')) {
      const text = readFileSync(path.join(ROOT, page), 'utf8');
      assert.doesNotMatch(text, /\(issue \d+\)|\bissue #?\d+\b/i, page);
      assert.doesNotMatch(text, /\(target [^)]*\)|\btarget [<≤]?\s*\d/i, page);
      assert.doesNotMatch(text, /\bmedians? of \d+|\bCPU-s\b/, page);
    }
  });
});
