import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { MizualError } from '../../src/core/errors.js';
import { processStartTime } from '../../src/core/lock.js';
import { acquireShipLock, emptyShipState, readShipState, writeShipState } from '../../src/core/ship-state.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mizual-ship-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('ship state', () => {
  it('round-trips privately and refuses a corrupt file', async () => {
    const stateDir = path.join(dir, 's1');
    assert.deepEqual(await readShipState(stateDir), emptyShipState());
    const state = { ...emptyShipState(), pending: ['logs-20261125_093000.tar.gz'], lastUploadAt: 'x' };
    await writeShipState(stateDir, state);
    assert.deepEqual(await readShipState(stateDir), state);
    assert.equal(statSync(path.join(stateDir, 'ship-state.json')).mode & 0o777, 0o600);
    assert.equal(statSync(stateDir).mode & 0o777, 0o700);
    writeFileSync(path.join(stateDir, 'ship-state.json'), '{"version":1,');
    await assert.rejects(readShipState(stateDir), /unreadable .*move it aside/);
  });
});

describe('ship lock', () => {
  it('lets one holder in, refuses a live second one, and releases', async () => {
    const stateDir = path.join(dir, 'l1');
    const lock = await acquireShipLock(stateDir);
    assert.equal(lock.takenOver, undefined);
    assert.equal(statSync(lock.path).mode & 0o777, 0o600);
    assert.match(readFileSync(lock.path, 'utf8'), new RegExp(`^${process.pid} ${processStartTime(process.pid)}\\n$`));
    await assert.rejects(acquireShipLock(stateDir), (err: unknown) => {
      assert.ok(err instanceof MizualError);
      assert.equal(err.message, `another mizual-ship-logs run (pid ${process.pid}) holds ${lock.path}`);
      return true;
    });
    lock.release();
    assert.equal(existsSync(lock.path), false);
  });

  it('takes over a lock whose process is gone or whose pid was reused', async () => {
    const stateDir = path.join(dir, 'l2');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(dead.stdout.toString());
    await acquireShipLock(stateDir).then((l) => l.release());
    writeFileSync(path.join(stateDir, 'ship.lock'), `${deadPid} 12345\n`);
    const lock = await acquireShipLock(stateDir);
    assert.match(lock.takenOver ?? '', new RegExp(`left by pid ${deadPid}`));
    lock.release();
    // Our own pid with another start time: the pid was reused by an unrelated process.
    writeFileSync(path.join(stateDir, 'ship.lock'), `${process.pid} 1\n`);
    const reused = await acquireShipLock(stateDir);
    assert.ok(reused.takenOver);
    reused.release();
  });
});
