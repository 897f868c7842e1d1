// A real full disk (a 64 KiB tmpfs) and the line an operator gets for it.
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { noSpaceError } from '../../src/core/disk-space.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir();
const mount = path.join(scratch.dir, 'small');
mkdirSync(mount);
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mount]);
after(() => {
  execFileSync('umount', [mount]);
  scratch.cleanup();
});

describe('noSpaceError', () => {
  it('says what was written, where, how much it needed and how much is free', async () => {
    const target = path.join(mount, 'logs-20250123_000000.tar.gz');
    const err = await writeFile(target, Buffer.alloc(300 * 1024)).then(
      () => assert.fail('the tmpfs should be full'),
      (e: unknown) => e,
    );
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    const line = await noSpaceError(err, 'logs-20250123_000000.tar.gz', target, 300 * 1024);
    assert.ok(line);
    assert.match(
      line.message,
      new RegExp(`^no space left writing logs-20250123_000000\\.tar\\.gz to ${mount}: it needs 300 KiB, \\d+ B free; `),
    );
    assert.equal(await noSpaceError(new Error('other'), 'x', target, 1), undefined);
  });
});
