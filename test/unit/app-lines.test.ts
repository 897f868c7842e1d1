// The golden corpus (test/fixtures/app-lines/): lines written by the real programs where Debian has
// them (Celery 5.2, uvicorn 0.17 on a TTY, gunicorn 20.1, nginx 1.22) and from each format's
// documentation otherwise. Each line is read alone through the scanner and what it counted is compared
// with its expected figure: request (method, route, status, seconds), task event, known, unrecognised.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bareScaleFromCommand } from '../../src/app/logs/formats.js';
import { LineScanner } from '../../src/app/logs/scan.js';
import { emptyTotals, Tally } from '../../src/app/logs/tally.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/app-lines');
type Expect =
  'seen' | 'unrecognised' | ['http', string, string, number, number | null] | ['task', string, string, number | null];
interface Entry {
  file: string;
  made: string;
  jsonFile?: boolean;
  command?: string[];
  expect: Expect[];
}
const corpus = JSON.parse(readFileSync(path.join(dir, 'corpus.json'), 'utf8')) as { files: Entry[] };

/** What one line counted, in the corpus's terms. */
function figureOf(line: string, entry: Entry): Expect | string {
  const now = Date.UTC(2026, 11, 7, 14, 30);
  const tally = new Tally(emptyTotals(), now / 60_000 - 60);
  const scanner = new LineScanner(tally, 'app', [], { bareScale: bareScaleFromCommand(entry.command) });
  const buf = Buffer.from(entry.jsonFile ? `${line}\n` : `2026-12-07T14:30:00.000000000Z ${line}\n`);
  if (entry.jsonFile) scanner.jsonFile(buf, 0, buf.length);
  else scanner.stamped(buf, 0, buf.length);
  const [bucket, ...more] = tally.fold([], now);
  if (!bucket || more.length > 0) return 'no bucket';
  const figures: Expect[] = [];
  for (const [key, s] of Object.entries(bucket.http['app'] ?? {})) {
    const sp = key.indexOf(' ');
    for (const [code, n] of Object.entries(s.c)) {
      for (let i = 0; i < n; i++)
        figures.push(['http', key.slice(0, sp), key.slice(sp + 1), Number(code), s.max ?? null]);
    }
  }
  for (const [task, s] of Object.entries(bucket.tasks['app'] ?? {})) {
    for (let i = 0; i < s.ok; i++) figures.push(['task', task, 'succeeded', s.max ?? null]);
    for (let i = 0; i < s.fail; i++) figures.push(['task', task, 'failed', null]);
    for (let i = 0; i < s.retry; i++) figures.push(['task', task, 'retried', null]);
    for (let i = 0; i < (s.exp ?? 0); i++) figures.push(['task', task, 'expected', null]);
  }
  const l = bucket.l?.['app'];
  if (l?.r !== 1) return `read ${l?.r ?? 0} lines`;
  if (figures.length > 1) return `counted ${JSON.stringify(figures)}`;
  if (figures.length === 1) return figures[0] as Expect;
  return l.u === 1 ? 'unrecognised' : 'seen';
}

describe('golden corpus: each real line counts what it is', () => {
  for (const entry of corpus.files) {
    it(`${entry.file}: ${entry.made}`, () => {
      const lines = readFileSync(path.join(dir, entry.file), 'utf8').split('\n').filter(Boolean);
      assert.equal(lines.length, entry.expect.length, 'one expected figure per line');
      lines.forEach((line, i) => {
        const got = figureOf(line, entry);
        const want = entry.expect[i] as Expect;
        if (Array.isArray(want) && Array.isArray(got) && typeof want[want.length - 1] === 'number') {
          const w = want[want.length - 1] as number;
          const g = got[got.length - 1];
          assert.deepEqual(got.slice(0, -1), want.slice(0, -1), `line ${i + 1}: ${line}`);
          assert.ok(
            typeof g === 'number' && Math.abs(g - w) <= 1e-9 * Math.max(1, w),
            `line ${i + 1}: ${g} vs ${w}: ${line}`,
          );
        } else {
          assert.deepEqual(got, want, `line ${i + 1}: ${line}`);
        }
      });
    });
  }
});
