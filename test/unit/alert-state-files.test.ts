import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireLock, readJsonState, writeJsonState } from '../../src/core/state-files.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-state-files-');
after(scratch.cleanup);

describe('state files', () => {
  it('writeJsonState replaces atomically, leaves no temp file and keeps 0600', async () => {
    const file = path.join(scratch.dir, 'a', 'state.json');
    await writeJsonState(file, { n: 1 });
    const inode = statSync(file).ino;
    await writeJsonState(file, { n: 2 });
    assert.notEqual(statSync(file).ino, inode, 'a new file renamed over the old one, not rewritten in place');
    assert.deepEqual(await readJsonState(file), { status: 'ok', data: { n: 2 } });
    assert.deepEqual(readdirSync(path.dirname(file)), ['state.json']);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('readJsonState tells missing from corrupt', async () => {
    assert.deepEqual(await readJsonState(path.join(scratch.dir, 'nope.json')), { status: 'missing' });
    const bad = path.join(scratch.dir, 'bad.json');
    writeFileSync(bad, 'not json');
    const read = await readJsonState(bad);
    assert.equal(read.status, 'corrupt');
  });

  it('a lock held by a live process refuses a second holder; a dead holder is taken over', async () => {
    const file = path.join(scratch.dir, 'locks', 'x.lock');
    const first = await acquireLock(file);
    assert.ok('release' in first);
    const second = await acquireLock(file);
    assert.deepEqual(second, { heldBy: process.pid });
    await first.release();
    writeFileSync(file, '999999999\n');
    const third = await acquireLock(file);
    assert.ok('release' in third, 'stale lock of a dead pid is taken over');
    assert.equal(readFileSync(file, 'utf8').trim(), String(process.pid));
    await third.release();
    assert.throws(() => statSync(file));
  });
});
