import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { AlertCursor } from '../../src/core/ship-state.js';
import { msToNano, parseLeadingTime } from '../../src/core/time.js';
import { shipAlertLines } from '../../src/ship/alert-lines.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mizual-ship-alerts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function ship(file: string, cursor: AlertCursor | null, fromMs = 0): Promise<[string, AlertCursor | null]> {
  const parts: Buffer[] = [];
  const next = await shipAlertLines(file, cursor, fromMs, { write: async (d) => void parts.push(Buffer.from(d)) });
  return [Buffer.concat(parts).toString('utf8'), next];
}

describe('alert log lines shipped exactly once', () => {
  it('parses both the ISO and the old [date] format', () => {
    assert.equal(parseLeadingTime('2026-11-25T09:40:12Z WARNING cpu: x'), msToNano(Date.parse('2026-11-25T09:40:12Z')));
    assert.equal(
      parseLeadingTime('[Thu Jan 23 14:30:00 UTC 2025] CPU high'),
      msToNano(Date.parse('2025-01-23T14:30:00Z')),
    );
    assert.equal(parseLeadingTime('[Thu Jan  3 04:30:00 UTC 2025] x'), msToNano(Date.parse('2025-01-03T04:30:00Z')));
    assert.equal(parseLeadingTime('no time here'), undefined);
  });

  it('first run: the lines of the window by their timestamps, in either format', async () => {
    const file = path.join(dir, 'first.log');
    writeFileSync(
      file,
      '[Thu Jan 23 14:30:00 UTC 2025] old and out\n' +
        '2026-11-25T09:00:00Z WARNING a: before\n' +
        '[Wed Nov 25 09:10:00 UTC 2026] old format inside\n' +
        'a line without a time\n' +
        '2026-11-25T09:20:00Z CRITICAL b: inside\n' +
        '2026-11-25T09:21:00Z partial',
    );
    const [text, cursor] = await ship(file, null, Date.parse('2026-11-25T09:05:00Z'));
    assert.equal(
      text,
      '[Wed Nov 25 09:10:00 UTC 2026] old format inside\na line without a time\n2026-11-25T09:20:00Z CRITICAL b: inside\n',
    );
    // The unfinished last line waits for its newline.
    appendFileSync(file, ' now complete\n2026-11-25T09:30:00Z RESOLVED b: ok\n');
    const [more] = await ship(file, cursor);
    assert.equal(more, '2026-11-25T09:21:00Z partial now complete\n2026-11-25T09:30:00Z RESOLVED b: ok\n');
  });

  it('ships a line stamped inside an already closed second exactly once', async () => {
    const file = path.join(dir, 'second.log');
    writeFileSync(file, '2026-11-25T09:30:00Z WARNING a: one\n');
    const [first, cursor] = await ship(file, null);
    appendFileSync(file, '2026-11-25T09:30:00Z WARNING a: two, same second\n');
    const [second, cursor2] = await ship(file, cursor);
    const [third] = await ship(file, cursor2);
    assert.equal(first, '2026-11-25T09:30:00Z WARNING a: one\n');
    assert.equal(second, '2026-11-25T09:30:00Z WARNING a: two, same second\n');
    assert.equal(third, '');
  });

  it('finishes the rotated file, then reads the new one from its start', async () => {
    const file = path.join(dir, 'rot.log');
    writeFileSync(file, 'l1\n');
    const [, c1] = await ship(file, null);
    appendFileSync(file, 'l2\nl3-unfinished');
    renameSync(file, `${file}.1`);
    writeFileSync(file, 'n1\n');
    const [text, c2] = await ship(file, c1);
    assert.equal(text, 'l2\nl3-unfinished\nn1\n');
    appendFileSync(file, 'n2\n');
    const [text2, c3] = await ship(file, c2);
    assert.equal(text2, 'n2\n');
    // Rotated twice between runs: the old inode is now .2, the whole .1 follows it.
    appendFileSync(file, 'n3\n');
    renameSync(`${file}.1`, `${file}.2`);
    renameSync(file, `${file}.1`);
    writeFileSync(file, 'm1\n');
    appendFileSync(`${file}.1`, 'n4\n');
    const [text3] = await ship(file, c3);
    assert.equal(text3, 'n3\nn4\nm1\n');
  });

  it('starts over when the file was truncated in place, and copes with no file', async () => {
    const file = path.join(dir, 'trunc.log');
    writeFileSync(file, 'aaaa\nbbbb\n');
    const [, c1] = await ship(file, null);
    truncateSync(file, 0);
    appendFileSync(file, 'c\n');
    const [text] = await ship(file, c1);
    assert.equal(text, 'c\n');
    const [none, cursor] = await ship(path.join(dir, 'absent.log'), null);
    assert.equal(none, '');
    assert.equal(cursor, null);
  });
});

describe('lines longer than a read chunk (256 KiB)', () => {
  const long = (tag: string, bytes: number): string => `${tag} ${'x'.repeat(bytes)}`;

  it('an unfinished line of many chunks waits, then ships whole once its newline arrives', async () => {
    const file = path.join(dir, 'long.log');
    const first = long('2026-11-25T09:00:00Z WARNING a:', 1_000_000);
    writeFileSync(file, `2026-11-25T08:59:00Z WARNING short\n${first}`);
    const [shipped, cursor] = await ship(file, null, Date.parse('2026-11-25T08:00:00Z'));
    assert.equal(shipped, '2026-11-25T08:59:00Z WARNING short\n', 'the unfinished line waits');
    appendFileSync(file, ` end\n${long('2026-11-25T09:01:00Z WARNING b:', 600_000)}\n2026-11-25T09:02:00Z tail`);
    const [next, cursor2] = await ship(file, cursor);
    assert.equal(next, `${first} end\n${long('2026-11-25T09:01:00Z WARNING b:', 600_000)}\n`);
    const [rest] = await ship(file, cursor2);
    assert.equal(rest, '');
  });

  it('first run: skips an old line of many chunks and ships the long one inside the window', async () => {
    const file = path.join(dir, 'long-first.log');
    const inside = long('2026-11-25T09:20:00Z CRITICAL in:', 700_000);
    writeFileSync(file, `${long('2026-11-25T08:00:00Z WARNING old:', 900_000)}\n${inside}\nno time\n`);
    const [shipped, cursor] = await ship(file, null, Date.parse('2026-11-25T09:00:00Z'));
    assert.equal(shipped, `${inside}\nno time\n`);
    assert.equal(cursor?.offset, Buffer.byteLength(readFileSync(file)));
  });

  it('a rotated file with a long unfinished last line ships it closed with a newline', async () => {
    const file = path.join(dir, 'long-rot.log');
    writeFileSync(file, '2026-11-25T09:00:00Z a\n');
    const [, cursor] = await ship(file, null, 0);
    const tail = long('2026-11-25T09:05:00Z b:', 800_000);
    appendFileSync(file, tail);
    renameSync(file, `${file}.1`);
    writeFileSync(file, '2026-11-25T09:06:00Z c\n');
    const [shipped] = await ship(file, cursor);
    assert.equal(shipped, `${tail}\n2026-11-25T09:06:00Z c\n`);
  });
});
