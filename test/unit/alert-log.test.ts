import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { appendAlertLines, formatAlertLine, parseSize, rotateLog } from '../../src/alerts/log.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-alert-log-');
after(scratch.cleanup);

describe('alert log', () => {
  it('formats lines exactly as the contract: whole-second UTC timestamp, severity, check, one-line message', () => {
    const at = new Date('2026-11-25T09:40:12.789Z');
    assert.equal(
      formatAlertLine(at, 'WARNING', 'memory', 'memory 91.2% used (threshold 85%)'),
      '2026-11-25T09:40:12Z WARNING memory: memory 91.2% used (threshold 85%)',
    );
    assert.equal(formatAlertLine(at, 'CRITICAL', 'health', 'a\nb'), '2026-11-25T09:40:12Z CRITICAL health: a b');
  });

  it('creates the file 0600 (parent 0700) and appends after old-format lines without touching them', async () => {
    const dir = path.join(scratch.dir, 'fresh', 'logs');
    const file = path.join(dir, 'alerts.log');
    await appendAlertLines(file, ['one']);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const old = '[Thu Jan 23 14:30:00 UTC 2025] WARNING: High CPU usage: 85%\n';
    const legacy = path.join(scratch.dir, 'legacy.log');
    writeFileSync(legacy, old);
    await appendAlertLines(legacy, ['new line']);
    assert.equal(readFileSync(legacy, 'utf8'), `${old}new line\n`);
  });

  it('rotates by renaming (the inode moves to .1, generations shift, the oldest falls off)', async () => {
    const dir = path.join(scratch.dir, 'rotate');
    mkdirSync(dir);
    const file = path.join(dir, 'alerts.log');
    const inodes: number[] = [];
    for (let i = 1; i <= 7; i++) {
      await appendAlertLines(file, [`gen ${i} ${'x'.repeat(600)}`], { maxBytes: 1024, generations: 5 });
      inodes.push(statSync(file).ino);
    }
    assert.match(readFileSync(file, 'utf8'), /^gen 7 /);
    assert.equal(statSync(`${file}.1`).ino, inodes[5], 'the previous file keeps its inode as .1');
    assert.match(readFileSync(`${file}.1`, 'utf8'), /^gen 6 /);
    assert.match(readFileSync(`${file}.5`, 'utf8'), /^gen 2 /);
    assert.throws(() => statSync(`${file}.6`));
    await rotateLog(path.join(dir, 'missing.log')).then(
      () => assert.fail('rotating a missing log must fail'),
      (err: Error) => assert.match(err.message, /cannot rotate alert log/),
    );
  });

  it('parses sizes', () => {
    assert.equal(parseSize('10M', 'x'), 10 * 1024 * 1024);
    assert.equal(parseSize('512K', 'x'), 512 * 1024);
    assert.equal(parseSize('4096', 'x'), 4096);
    assert.throws(() => parseSize('ten', '--log-max-size'), /--log-max-size must be a size/);
    assert.throws(() => parseSize('10', '--log-max-size'), /at least 1K/);
  });
});
