// Manual pages from the docs: docs/<tool>.md → man/mizual-<tool>.1, at build time, so `man mizual-ship-logs`
// works after `npm install -g` and says what the tool's page says. A small converter for the Markdown these
// pages use (headings, paragraphs, nested lists, fenced code, tables, inline code, bold, italics, links)
// rather than a dependency: marked-man would pull marked and read-package-up into the build for the same job.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The tools whose docs/<tool>.md becomes man/mizual-<tool>.1. */
export const MAN_TOOLS = ['metrics', 'alerts', 'ship-logs', 'fetch-logs'];

const SECTION_NAMES = { 'EXIT CODES': 'EXIT STATUS' };

/** Escape text for roff: backslashes, and every non-ASCII character as a groff Unicode escape. */
function escapeText(text, { literal = false } = {}) {
  let out = '';
  for (const ch of text.replace(/\\/g, '\\e')) {
    const code = ch.codePointAt(0);
    if (code > 0x7e) out += `\\[u${code.toString(16).toUpperCase().padStart(4, '0')}]`;
    else if (literal && ch === '-') out += '\\-';
    else out += ch;
  }
  return out;
}

/** A line roff would read as a request (leading `.` or `'`) is protected with a zero-width `\&`. */
function protectLine(line) {
  const trimmed = line.replace(/^\s+/, '');
  return /^[.']/.test(trimmed) ? `\\&${trimmed}` : trimmed;
}

/** Render a docs link for a reader of the man page, who has no docs/ beside it. */
function renderLink(label, href, ctx) {
  const text = inline(label, ctx);
  if (/^[a-z]+:/i.test(href)) return label === href ? text : `${text} <${escapeText(href, { literal: true })}>`;
  const [file] = href.split('#');
  if (!file) return text;
  const tool = /^(metrics|alerts|ship-logs|fetch-logs)\.md$/.exec(file);
  if (tool) {
    const name = `mizual-${tool[1]}`;
    return label === name
      ? `\\fB${escapeText(name, { literal: true })}\\fR(1)`
      : `${text} (see ${escapeText(name, { literal: true })}(1))`;
  }
  const target = path.posix.normalize(path.posix.join('docs', file));
  return label.includes(target) ? text : `${text} (${escapeText(target, { literal: true })})`;
}

/** Inline Markdown (code spans, links, bold, italics) to roff font escapes. */
function inline(text, ctx) {
  let out = '';
  let plain = '';
  const flush = () => {
    out += escapeText(plain.replace(/\\\|/g, '|'));
    plain = '';
  };
  for (let i = 0; i < text.length;) {
    const rest = text.slice(i);
    let m;
    if ((m = /^(`+)([\s\S]*?[^`])\1(?!`)/.exec(rest))) {
      flush();
      // A long literal (a list of JSON fields) may break after a comma or a slash, or troff cannot fill the line.
      const code = escapeText(m[2].trim().replace(/\\\|/g, '|'), { literal: true });
      out += `\\fB${code.length > 30 ? code.replace(/([,/])/g, '$1\\:') : code}\\fR`;
    } else if ((m = /^\[([^\]]+)\]\(([^)\s]+)\)/.exec(rest))) {
      flush();
      out += renderLink(m[1], m[2], ctx);
    } else if ((m = /^\*\*(.+?)\*\*/.exec(rest))) {
      flush();
      out += `\\fB${inline(m[1], ctx)}\\fR`;
    } else if ((m = /^_([^_\s][^_]*?)_(?![\w])/.exec(rest)) && !/\w$/.test(plain)) {
      flush();
      out += `\\fI${inline(m[1], ctx)}\\fR`;
    } else {
      plain += text[i];
      i += 1;
      continue;
    }
    i += m[0].length;
  }
  flush();
  return out;
}

/** Split a Markdown table row into cells (`\|` stays inside a cell). */
function cells(row) {
  return row
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

const LIST_ITEM = /^( *)([-*]|\d+\.) +(.*)$/;

/** Parse lines into blocks: heading, code, table, list, paragraph. */
function parseBlocks(lines) {
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i += 1;
      continue;
    }
    const fence = /^( *)(```+|~~~+)/.exec(line);
    if (fence) {
      const indent = fence[1].length;
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[2])) {
        body.push(lines[i].slice(Math.min(indent, lines[i].length - lines[i].trimStart().length)));
        i += 1;
      }
      i += 1;
      blocks.push({ type: 'code', lines: body });
      continue;
    }
    const heading = /^(#{1,6}) +(.*)$/.exec(line);
    if (heading) {
      blocks.push({ type: 'heading', level: heading[1].length, text: heading[2].trim() });
      i += 1;
      continue;
    }
    if (line.trimStart().startsWith('|') && /^\s*\|[\s:|-]+\|\s*$/.test(lines[i + 1] ?? '')) {
      const header = cells(line);
      const rows = [];
      i += 2;
      while (i < lines.length && lines[i].trimStart().startsWith('|')) {
        rows.push(cells(lines[i]));
        i += 1;
      }
      blocks.push({ type: 'table', header, rows });
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item) {
      const items = [];
      const ordered = /\d/.test(item[2]);
      const base = item[1].length;
      while (i < lines.length) {
        const m = LIST_ITEM.exec(lines[i]);
        if (!m || m[1].length !== base) break;
        const contentIndent = base + m[2].length + 1;
        const body = [m[3]];
        i += 1;
        // The item goes on while lines are indented past its marker, blank lines included when more follows.
        while (i < lines.length) {
          const next = lines[i];
          const indent = next.length - next.trimStart().length;
          if (next.trim() === '') {
            const following = lines.slice(i + 1).find((l) => l.trim() !== '');
            if (following === undefined || following.length - following.trimStart().length < contentIndent) break;
            body.push('');
          } else if (indent >= contentIndent || (indent > base && !LIST_ITEM.test(next))) {
            body.push(next.slice(Math.min(indent, contentIndent)));
          } else if (indent > base && LIST_ITEM.test(next)) {
            body.push(next.slice(Math.min(indent, contentIndent)));
          } else break;
          i += 1;
        }
        items.push({ marker: ordered ? m[2] : null, blocks: parseBlocks(body) });
        while (i < lines.length && lines[i].trim() === '' && LIST_ITEM.exec(lines[i + 1] ?? '')?.[1].length === base) {
          i += 1;
        }
      }
      blocks.push({ type: 'list', ordered, items });
      continue;
    }
    const para = [];
    while (
      i < lines.length &&
      lines[i].trim() !== '' &&
      !/^( *)(```|~~~)/.test(lines[i]) &&
      !/^#{1,6} /.test(lines[i]) &&
      !(para.length > 0 && LIST_ITEM.test(lines[i]))
    ) {
      para.push(lines[i]);
      i += 1;
    }
    blocks.push({ type: 'paragraph', text: para.join('\n') });
  }
  return blocks;
}

/** Paragraph text as roff lines (source line breaks kept; roff fills them). */
function textLines(text, ctx) {
  return inline(text, ctx)
    .split('\n')
    .map(protectLine)
    .filter((l) => l !== '');
}

function renderBlocks(blocks, ctx, out) {
  for (const block of blocks) {
    switch (block.type) {
      case 'heading': {
        const title = block.text.replace(/`/g, '');
        if (block.level <= 2) out.push(`.SH ${escapeText(SECTION_NAMES[title.toUpperCase()] ?? title.toUpperCase())}`);
        else out.push(`.SS ${escapeText(title)}`);
        break;
      }
      case 'paragraph':
        out.push('.PP', ...textLines(block.text, ctx));
        break;
      case 'code':
        out.push('.PP', '.RS 4', '.nf');
        for (const line of block.lines) out.push(line === '' ? '' : protectLine(escapeText(line, { literal: true })));
        out.push('.fi', '.RE');
        break;
      case 'table':
        for (const row of block.rows) {
          out.push('.TP', ...textLines(row[0] ?? '', ctx));
          const rest = row.slice(1).map((cell, j) => ({ cell, head: block.header[j + 1] ?? '' }));
          const body = rest.filter((r) => r.cell !== '');
          body.forEach((r, j) => {
            if (j > 0) out.push('.br');
            const label = rest.length > 1 ? `\\fI${escapeText(r.head)}\\fR: ` : '';
            const [first = '', ...more] = textLines(r.cell, ctx);
            out.push(protectLine(label + first), ...more);
          });
        }
        break;
      case 'list':
        block.items.forEach((item, n) => {
          const indent = block.ordered ? 4 : 2;
          out.push(`.IP ${block.ordered ? `${n + 1}.` : '\\(bu'} ${indent}`);
          const [first, ...rest] = item.blocks;
          if (first?.type === 'paragraph') out.push(...textLines(first.text, ctx));
          else if (first) rest.unshift(first);
          if (rest.length > 0) {
            out.push(`.RS ${indent}`);
            renderBlocks(rest, ctx, out);
            out.push('.RE');
          }
        });
        break;
    }
  }
}

/** Convert one docs page (`# tool` heading, then a one-paragraph summary) into a section-1 man page. */
export function markdownToMan(markdown, { version }) {
  // An HTML comment on its own line (the docs mark their output examples so) is not for the reader.
  const lines = markdown
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((line) => !/^<!--.*-->\s*$/.test(line));
  const blocks = parseBlocks(lines);
  const [title, summary, ...body] = blocks;
  if (title?.type !== 'heading' || title.level !== 1 || summary?.type !== 'paragraph') {
    throw new Error('a man page source starts with "# name" and a one-paragraph summary');
  }
  const name = title.text;
  const ctx = { name };
  const out = [
    `.TH ${escapeText(name.toUpperCase(), { literal: true })} 1 "" "mizual-monitoring ${escapeText(version)}" "User Commands"`,
    // Left-aligned and unhyphenated: long literals (paths, JSON field lists) then fill without gaps or warnings.
    '.ad l',
    '.nh',
    '.SH NAME',
    `${escapeText(name, { literal: true })} \\- ${inline(summary.text.replace(/\s*\n\s*/g, ' '), ctx)}`,
  ];
  renderBlocks(body, ctx, out);
  return `${out.join('\n')}\n`;
}

/** Write man/mizual-<tool>.1 for every tool from docs/<tool>.md; returns the files written. */
export function writeManPages(root, version) {
  const dir = path.join(root, 'man');
  mkdirSync(dir, { recursive: true });
  return MAN_TOOLS.map((tool) => {
    const source = readFileSync(path.join(root, 'docs', `${tool}.md`), 'utf8');
    const file = path.join(dir, `mizual-${tool}.1`);
    writeFileSync(file, markdownToMan(source, { version }));
    return file;
  });
}
