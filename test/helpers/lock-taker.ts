/**
 * A process that competes for one lock file, driven line by line over stdin by a race test:
 * `go` takes the lock (answering `won` or `held`), `release` lets go of it (answering `released`).
 */
import { createInterface } from 'node:readline';
import { acquireLock, type Lock } from '../../src/core/lock.js';

const file = process.argv[2] as string;
let lock: Lock | undefined;
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'go') {
    try {
      const got = await acquireLock(file);
      lock = 'release' in got ? got : undefined;
      process.stdout.write(`${lock ? 'won' : 'held'}\n`);
    } catch (err) {
      process.stdout.write(`error ${(err as Error).message}\n`);
    }
  } else if (line === 'release') {
    lock?.release();
    lock = undefined;
    process.stdout.write('released\n');
  }
}
