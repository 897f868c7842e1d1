import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireLock } from '../../src/core/lock.js';
import { readJsonState, writeJsonState } from '../../src/core/state-files.js';
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
    assert.equal(readFileSync(file, 'utf8').split(' ')[0], String(process.pid));
    await third.release();
    assert.throws(() => statSync(file));
  });

  it('takes over a stale lock whose pid was reused: pid 1 written long before pid 1 started', async () => {
    const file = path.join(scratch.dir, 'locks', 'alerts.lock');
    // The lock an older version left two days before a reboot: no start time, and a low pid that
    // now belongs to init. It must not block every later run.
    writeFileSync(file, '1\n');
    utimesSync(file, new Date('2000-01-01T00:00:00Z'), new Date('2000-01-01T00:00:00Z'));
    const lock = await acquireLock(file);
    assert.ok('release' in lock, 'the stale lock is taken over');
    assert.match(lock.takenOver ?? '', /left by pid 1,/);
    lock.release();
    // The same pid with a start time that is not pid 1's: reused as well.
    writeFileSync(file, '1 5\n');
    const again = await acquireLock(file);
    assert.ok('release' in again);
    again.release();
    // But a lock pid 1 itself could have written (recent, no start time) is respected.
    writeFileSync(file, '1\n');
    assert.deepEqual(await acquireLock(file), { heldBy: 1 });
    rmSync(file);
  });
});
