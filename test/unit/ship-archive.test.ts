import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { tarHeader, writeArchive } from '../../src/archive/write.js';
import { EntrySpool } from '../../src/ship/export.js';
import { formatNanoTime, msToNano, parseNanoTime, toDockerBound, truncateToSecond } from '../../src/core/time.js';
import { archiveEnd, retentionCutoff } from '../../src/archive/contract.js';
import { readTarGz } from '../e2e/ship-logs-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mizual-ship-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('nanosecond times', () => {
  it('parses and formats RFC 3339 with nanoseconds exactly', () => {
    const ns = parseNanoTime('2026-11-25T09:43:48.040200185Z');
    assert.equal(formatNanoTime(ns), '2026-11-25T09:43:48.040200185Z');
    assert.equal(formatNanoTime(ns + 1n), '2026-11-25T09:43:48.040200186Z');
    assert.equal(
      formatNanoTime(parseNanoTime('2026-11-25T09:43:48.999999999Z') + 1n),
      '2026-11-25T09:43:49.000000000Z',
    );
    assert.equal(parseNanoTime('2026-11-25T10:43:48.5+01:00'), parseNanoTime('2026-11-25T09:43:48.500000000Z'));
    assert.throws(() => parseNanoTime('2026-11-25 09:43:48'));
  });

  it('gives the Engine API seconds.nanoseconds and truncates to whole seconds', () => {
    const ns = parseNanoTime('2026-11-25T23:59:59.000000001Z');
    assert.equal(toDockerBound(ns), '1795651199.000000001');
    assert.equal(formatNanoTime(truncateToSecond(ns)), '2026-11-25T23:59:59.000000000Z');
    assert.equal(msToNano(1500), 1_500_000_000n);
  });
});

describe('archive names and retention', () => {
  it('reads the window end back from an archive name and rejects others', () => {
    assert.equal(archiveEnd('logs-20261125_093000.tar.gz')?.toISOString(), '2026-11-25T09:30:00.000Z');
    assert.equal(archiveEnd('logs-20260230_093000.tar.gz'), undefined);
    assert.equal(archiveEnd('.logs-20261125_093000.tar.gz.partial'), undefined);
  });

  it('never counts today as past retention', () => {
    const now = Date.parse('2026-11-25T00:00:05Z');
    assert.equal(retentionCutoff(now, 90), '2026-08-27');
    assert.equal(retentionCutoff(now, 1), '2026-11-24');
  });
});

describe('archive writer', () => {
  it('writes a ustar header that GNU tar accepts, with a correct checksum', () => {
    const header = tarHeader('backend-20261125_093000.log', 1234, new Date('2026-11-25T09:30:00Z'));
    assert.equal(header.length, 512);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] as number);
    assert.equal(parseInt(header.subarray(148, 155).toString(), 8), sum);
    assert.equal(header.subarray(124, 135).toString(), '00000002322');
    assert.throws(() => tarHeader('a/b', 1, new Date()));
    assert.equal(tarHeader('x'.repeat(101), 1, new Date()).length, 3 * 512, 'a long name gets a pax header');
  });

  it('assembles spooled gzip members into one archive tar and gunzip accept', async () => {
    const lines = Buffer.from(
      Array.from({ length: 5000 }, (_, i) => `2026-11-25T09:00:00.000000000Z line ${i}\n`).join(''),
    );
    const odd = Buffer.concat([Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('\n')]);
    const spoolA = new EntrySpool(path.join(dir, 'a.gz'));
    // Many small writes, as frames arrive.
    for (let i = 0; i < lines.length; i += 77) await spoolA.write(lines.subarray(i, i + 77));
    const a = await spoolA.finish();
    assert.equal(a.lines, 5000);
    assert.equal(a.bytes, lines.length);
    assert.equal(a.sha256, createHash('sha256').update(lines).digest('hex'));
    const spoolB = new EntrySpool(path.join(dir, 'b.gz'));
    await spoolB.write(odd.subarray(0, 3)); // no newline: finish() closes the line
    const b = await spoolB.finish();
    assert.equal(b.lines, 1);
    const empty = await new EntrySpool(path.join(dir, 'c.gz')).finish();
    assert.equal(empty.bytes, 0);
    const target = path.join(dir, 'out.tar.gz');
    const mtime = new Date('2026-11-25T09:30:00Z');
    await writeArchive(
      target,
      [
        { name: 'a.log', size: a.bytes, gzipPath: a.path },
        { name: 'b.log', size: b.bytes, gzipPath: b.path },
        { name: 'c.log', size: 0, gzipPath: empty.path },
        { name: 'manifest.json', data: Buffer.from('{"format":1}\n') },
      ],
      mtime,
    );
    execFileSync('gunzip', ['-t', target]);
    const listing = execFileSync('tar', ['-tzvf', target], { encoding: 'utf8' });
    assert.match(listing, /^-rw------- root\/root +\d+ 2026-11-25 09:30 a\.log$/m);
    const entries = readTarGz(readFileSync(target));
    assert.deepEqual(
      entries.map((e) => e.name),
      ['a.log', 'b.log', 'c.log', 'manifest.json'],
    );
    assert.ok(entries[0]?.data.equals(lines));
    assert.ok(entries[1]?.data.equals(odd));
    assert.equal(entries[0]?.mtime, mtime.getTime() / 1000);
    execFileSync('tar', ['-xzf', target, '-C', dir]);
    assert.ok(readFileSync(path.join(dir, 'b.log')).equals(odd));
  });

  it('refuses to overwrite and removes its file when it fails', async () => {
    const target = path.join(dir, 'exists.tar.gz');
    writeFileSync(target, 'x');
    await assert.rejects(writeArchive(target, [], new Date()), { code: 'EEXIST' });
    const broken = path.join(dir, 'broken.tar.gz');
    await assert.rejects(
      writeArchive(broken, [{ name: 'a', size: 1, gzipPath: path.join(dir, 'nope.gz') }], new Date()),
    );
    assert.throws(() => readFileSync(broken), { code: 'ENOENT' });
  });
});
