import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readArchive } from '../../src/archive/read.js';
import { tarHeader, writeArchive } from '../../src/archive/write.js';
import { EntrySpool } from '../../src/ship/export.js';

const PYTHON_LIST = `
import sys, tarfile, json
with tarfile.open(sys.argv[1]) as t:
    out = []
    for m in t.getmembers():
        f = t.extractfile(m) if m.size < 1 << 20 else None
        out.append({"name": m.name, "size": m.size, "data": f.read().decode() if f else None})
    print(json.dumps(out))
`;

/** What Python's tarfile (Debian's /usr/bin/python3) reads from an archive. */
function pythonRead(file: string): { name: string; size: number; data: string | null }[] {
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', PYTHON_LIST, file], { encoding: 'utf8' })) as {
    name: string;
    size: number;
    data: string | null;
  }[];
}

describe('archive writer: names over 100 bytes and sizes of 8 GiB or more (pax headers)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mizual-pax-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // A 110-character short name, as MIZUAL_CONTAINERS may configure it, in the shipper's entry name.
  const longName = `${'a-very-long-service-name-'.repeat(4)}0123456789-20261125_093000.log`;

  it('an entry with a 144-byte name is read whole by GNU tar, bsdtar, Python and our reader', async () => {
    assert.ok(Buffer.byteLength(longName) > 100);
    const body = '2026-11-25T09:00:00.000000000Z hello\n2026-11-25T09:00:01.000000000Z world\n';
    const spool = new EntrySpool(path.join(dir, 'long.gz'));
    await spool.write(Buffer.from(body));
    const done = await spool.finish();
    const target = path.join(dir, 'long.tar.gz');
    await writeArchive(
      target,
      [
        { name: longName, size: done.bytes, gzipPath: done.path },
        { name: 'manifest.json', data: Buffer.from('{}\n') },
      ],
      new Date('2026-11-25T09:30:00Z'),
    );
    const gnu = execFileSync('tar', ['-tzf', target], { encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.deepEqual(gnu, [longName, 'manifest.json']);
    const bsd = execFileSync('bsdtar', ['-tzf', target], { encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.deepEqual(bsd, [longName, 'manifest.json']);
    assert.equal(execFileSync('tar', ['-xzOf', target, longName], { encoding: 'utf8' }), body);
    assert.equal(execFileSync('bsdtar', ['-xzOf', target, longName], { encoding: 'utf8' }), body);
    const py = pythonRead(target);
    assert.deepEqual(
      py.map((m) => [m.name, m.data]),
      [
        [longName, body],
        ['manifest.json', '{}\n'],
      ],
    );
    const ours: string[] = [];
    for await (const entry of readArchive(target)) ours.push(entry.name);
    assert.deepEqual(ours, [longName, 'manifest.json']);
  });

  it('the header of an 8 GiB + 5 byte entry carries its size (pax size record and base-256 field)', () => {
    const size = 8 * 1024 ** 3 + 5;
    const blocks = tarHeader('backend-20261125_093000.log', size, new Date('2026-11-25T09:30:00Z'));
    assert.equal(blocks.length, 3 * 512, 'pax header, its records, the ustar header');
    assert.equal(String.fromCharCode(blocks[156] as number), 'x');
    assert.match(blocks.subarray(512, 1024).toString('utf8'), /^\d+ size=8589934597\n/);
    const field = blocks.subarray(1024 + 124, 1024 + 136);
    assert.equal(field[0], 0x80, 'base-256 marker');
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] as number);
    assert.equal(value, size);
    // An ordinary entry stays a single plain ustar block.
    assert.equal(tarHeader('backend-20261125_093000.log', 1234, new Date()).length, 512);
  });

  it('GNU tar, bsdtar and Python list an 8 GiB + 5 byte entry of a sparse archive with its size', () => {
    const size = 8 * 1024 ** 3 + 5;
    const file = path.join(dir, 'big.tar');
    const header = tarHeader('big-20261125_093000.log', size, new Date('2026-11-25T09:30:00Z'));
    const fd = openSync(file, 'w');
    try {
      writeSync(fd, header);
      // The body is a hole: nothing of it is written to disk. Then the padding and two zero blocks.
      const end = header.length + size + (512 - (size % 512)) + 1024;
      ftruncateSync(fd, end);
    } finally {
      closeSync(fd);
    }
    assert.match(execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }), / 8589934597 .*big-20261125_093000\.log$/m);
    assert.match(
      execFileSync('bsdtar', ['-tvf', file], { encoding: 'utf8' }),
      / 8589934597 .*big-20261125_093000\.log$/m,
    );
    assert.deepEqual(
      pythonRead(file).map((m) => [m.name, m.size]),
      [['big-20261125_093000.log', size]],
    );
  });
});
