import { execa } from 'execa';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readArchive, readTarEntries } from '../../src/archive/read.js';
import { buildTar, buildTarGz, makeShipArchive } from '../helpers/make-archive.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir();
after(scratch.cleanup);

async function entriesOf(file: string): Promise<{ name: string; type: string; data: Buffer; linkname: string }[]> {
  const out = [];
  for await (const e of readArchive(file)) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    out.push({ name: e.name, type: e.type, data: Buffer.concat(parts), linkname: e.linkname });
  }
  return out;
}

function write(name: string, data: Buffer): string {
  const file = path.join(scratch.dir, name);
  writeFileSync(file, data);
  return file;
}

describe('archive-read', () => {
  it('reads the entries of a shipper-format archive in order, bytes intact', async () => {
    const invalidUtf8 = Buffer.from([0x32, 0x30, 0x20, 0xff, 0xfe, 0x41]);
    const { data, files } = makeShipArchive({
      env: 'prod',
      host: 'web-1',
      start: new Date('2026-11-25T09:00:00Z'),
      end: new Date('2026-11-25T09:30:00Z'),
      containers: [{ short: 'backend', lines: ['2026-11-25T09:00:01.000000001Z hello', invalidUtf8] }],
      alerts: ['2026-11-25T09:10:00Z WARNING cpu: 91%'],
    });
    const entries = await entriesOf(write('ship.tar.gz', data));
    assert.deepEqual(
      entries.map((e) => e.name),
      ['backend-20261125_093000.log', 'alerts-20261125_093000.log', 'manifest.json'],
    );
    assert.deepEqual(entries[0]?.data, files.get('backend-20261125_093000.log'));
    assert.ok(entries[0]?.data.includes(Buffer.from([0xff, 0xfe])));
  });

  it('accepts a multi-member gzip stream', async () => {
    const big = Buffer.alloc(300_000, 'x');
    const file = write(
      'multi.tar.gz',
      buildTarGz(
        [
          { name: 'a.log', data: big },
          { name: 'b.log', data: 'b' },
        ],
        4,
      ),
    );
    const entries = await entriesOf(file);
    assert.equal(entries.length, 2);
    assert.equal(entries[0]?.data.length, 300_000);
    assert.equal(entries[1]?.data.toString(), 'b');
  });

  it('reports links with their targets and lets callers skip bodies', async () => {
    const file = write(
      'links.tar.gz',
      buildTarGz([
        { name: 'big.log', data: Buffer.alloc(100_000, 'y') },
        { name: 'evil', type: '2', linkname: '/etc/passwd' },
        { name: 'hard', type: '1', linkname: '../../x' },
        { name: 'last.log', data: 'end' },
      ]),
    );
    const seen: string[] = [];
    for await (const e of readArchive(file)) seen.push(`${e.name}:${e.type}:${e.linkname}`);
    assert.deepEqual(seen, ['big.log:file:', 'evil:symlink:/etc/passwd', 'hard:hardlink:../../x', 'last.log:file:']);
    const parts: Buffer[] = [];
    for await (const e of readArchive(file)) if (e.name === 'last.log') for await (const c of e.body) parts.push(c);
    assert.equal(Buffer.concat(parts).toString(), 'end');
  });

  it('reads what GNU tar writes, including long names (pax and GNU formats)', async () => {
    const src = path.join(scratch.dir, 'src');
    const long = `${'d'.repeat(120)}/${'f'.repeat(110)}.log`;
    mkdirSync(path.join(src, 'd'.repeat(120)), { recursive: true });
    writeFileSync(path.join(src, long), 'long name\n');
    writeFileSync(path.join(src, 'plain.log'), 'plain\n');
    for (const format of ['pax', 'gnu', 'ustar']) {
      const out = path.join(scratch.dir, `gnu-${format}.tar.gz`);
      const args = ['-czf', out, `--format=${format}`, '-C', src, 'plain.log'];
      if (format !== 'ustar') args.push(long);
      await execa('tar', args);
      const entries = await entriesOf(out);
      const byName = new Map(entries.map((e) => [e.name, e.data.toString()]));
      assert.equal(byName.get('plain.log'), 'plain\n', format);
      if (format !== 'ustar') assert.equal(byName.get(long), 'long name\n', format);
    }
  });

  it('fails on a truncated archive and on data that is not gzip', async () => {
    const full = buildTarGz([{ name: 'a.log', data: Buffer.from(createHash('sha512').digest('hex').repeat(5000)) }]);
    const cut = write('cut.tar.gz', full.subarray(0, Math.floor(full.length / 2)));
    await assert.rejects(entriesOf(cut), /cut\.tar\.gz: /);
    const notGzip = write('plain.tar.gz', buildTar([{ name: 'a', data: 'a' }]));
    await assert.rejects(entriesOf(notGzip), /not a valid gzip file|incorrect header/);
    const badTar = write('bad.tar.gz', gzipSync(Buffer.alloc(512, 'z')));
    await assert.rejects(entriesOf(badTar), /not a tar archive/);
  });

  it('reads a stream of tar bytes given in tiny chunks', async () => {
    const tar = buildTar([
      { name: 'one', data: 'first body' },
      { name: 'two', data: Buffer.alloc(1500, 'q') },
    ]);
    async function* tiny(): AsyncGenerator<Buffer> {
      for (let i = 0; i < tar.length; i += 7) yield tar.subarray(i, i + 7);
    }
    const got: string[] = [];
    for await (const e of readTarEntries(tiny())) {
      const parts: Buffer[] = [];
      for await (const c of e.body) parts.push(c);
      got.push(`${e.name}=${Buffer.concat(parts).length}`);
    }
    assert.deepEqual(got, ['one=10', 'two=1500']);
  });
});
