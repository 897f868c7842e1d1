import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../helpers/cli.js';

/** One competing process: send it a command, read its next answer. */
class Taker {
  private readonly answers: string[] = [];
  private readonly waiting: ((line: string) => void)[] = [];
  constructor(readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const next = this.waiting.shift();
      if (next) next(line);
      else this.answers.push(line);
    });
  }
  next(): Promise<string> {
    const ready = this.answers.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  send(line: string): Promise<string> {
    this.child.stdin.write(`${line}\n`);
    return this.next();
  }
}

describe('ship.lock: taking over a stale lock (separate processes racing)', () => {
  const TAKERS = 8;
  const ROUNDS = 25;
  let dir: string;
  let file: string;
  const takers: Taker[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mizual-lock-race-'));
    file = path.join(dir, 'ship.lock');
    for (let i = 0; i < TAKERS; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/lock-taker.ts'), file], {
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      takers.push(new Taker(child));
    }
    for (const t of takers) assert.equal(await t.next(), 'ready');
  });

  after(() => {
    for (const t of takers) t.child.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`exactly one of ${TAKERS} processes takes a stale lock over, in each of ${ROUNDS} rounds`, async () => {
    const winners: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // A lock left by a process that is gone (no such pid), written a minute ago.
      writeFileSync(file, '999999999 12345\n', { mode: 0o600 });
      const old = new Date(Date.now() - 60_000);
      utimesSync(file, old, old);
      const answers = await Promise.all(takers.map((t) => t.send('go')));
      for (const a of answers) assert.match(a, /^(won|held)$/);
      winners.push(answers.filter((a) => a === 'won').length);
      await Promise.all(takers.map((t) => t.send('release')));
      assert.equal(existsSync(file), false, 'the winner released the lock');
    }
    assert.deepEqual(
      winners,
      winners.map(() => 1),
      'winners per round',
    );
    // Nothing of the takeover is left behind beside the lock.
    assert.deepEqual(readdirSync(dir), []);
  });
});
