import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { EntrySpool } from '../../src/ship/export.js';

describe('EntrySpool.discard after an export failed mid-stream', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mizual-spool-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('settles and removes the spool when bytes were already written', async () => {
    const file = path.join(dir, 'part.gz');
    const spool = new EntrySpool(file);
    // More than one batch, so zlib and the file stream are both mid-way when the export fails.
    const line = Buffer.from(`${'2025-01-01T00:00:00.000000000Z x '.padEnd(200, 'y')}\n`);
    for (let i = 0; i < 3000; i++) await spool.write(line);
    await spool.discard();
    assert.equal(existsSync(file), false);
  });

  it('settles when nothing was written yet', async () => {
    const file = path.join(dir, 'empty.gz');
    const spool = new EntrySpool(file);
    await spool.discard();
    assert.equal(existsSync(file), false);
  });

  it('settles after the spool itself failed (its file could not be created)', async () => {
    const spool = new EntrySpool(path.join(dir, 'no-such-dir', 'x.gz'));
    await spool.write(Buffer.from('a line\n')).catch(() => undefined);
    await spool.discard();
  });
});
