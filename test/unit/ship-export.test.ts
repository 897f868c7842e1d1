import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameCopier } from '../../src/docker/frames.js';
import type { GapKind } from '../../src/archive/contract.js';
import { stepBackNs } from '../../src/ship/clock-step.js';
import { describeGap } from '../../src/ship/gap-text.js';
import { LineResume, type LineMark } from '../../src/ship/export.js';

const T1 = '2026-11-25T09:43:48.040200185Z ';
const T2 = '2026-11-25T09:43:48.061319523Z ';
const T3 = '2026-11-25T09:43:49.000000001Z ';

function frame(type: number, text: string | Buffer): Buffer {
  const payload = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function copy(chunks: Buffer[]): string {
  const copier = new FrameCopier();
  const out = chunks.map((c) => Buffer.from(copier.transform(c)));
  copier.end();
  return Buffer.concat(out).toString('latin1');
}

const stream = Buffer.concat([
  frame(1, `${T1}out one\n`),
  frame(2, `${T1}err one\n`),
  // One long line split by Docker: same stream, same timestamp, newline only at the end.
  frame(1, `${T2}aaaa`),
  frame(1, `${T2}bbbb`),
  frame(1, `${T2}cc\n`),
  // An unfinished line, then the other stream: the line is closed first.
  frame(2, `${T2}unfinished`),
  frame(1, `${T3}after\n`),
  // An unfinished line, then the same stream with another timestamp (a restart): closed too.
  frame(1, `${T2}cut`),
  frame(1, `${T3}restarted\n`),
  frame(2, Buffer.concat([Buffer.from(T3), Buffer.from([0xff, 0xfe, 0x0a])])),
]);
const expected =
  `${T1}out one\n${T1}err one\n${T2}aaaa${T2}bbbb${T2}cc\n${T2}unfinished\n${T3}after\n` +
  `${T2}cut\n${T3}restarted\n${T3}\xff\xfe\n`;

describe('FrameCopier', () => {
  it('writes what docker logs --timestamps prints, in the engine order', () => {
    assert.equal(copy([stream]), expected);
  });

  it('gives the same bytes however the stream is cut into chunks', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      assert.equal(copy([stream.subarray(0, cut), stream.subarray(cut)]), expected, `cut at ${cut}`);
    }
    const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    assert.equal(copy(bytes), expected);
  });

  it('reports engine errors and a stream cut inside a frame', () => {
    assert.throws(() => copy([frame(3, 'boom')]), /Docker engine error in log stream: boom/);
    assert.throws(() => copy([frame(1, `${T1}x\n`).subarray(0, 12)]), /ended inside a frame/);
    assert.throws(() => copy([frame(7, 'x')]), /malformed Docker log stream/);
  });
});

describe('LineResume (issue 19: the API path after a clock step back)', () => {
  const line = (stamp: string, text: string) => `${stamp} ${text}\n`;
  const at = (s: number) => `2026-11-25T10:00:${String(s).padStart(2, '0')}.000000000Z`;
  /** Run a stream through LineResume cut into chunks of `size` bytes; returns what it kept and its marks. */
  function resume(text: string, after: LineMark | null, size: number) {
    const filter = new LineResume(after);
    const kept: Buffer[] = [];
    const bytes = Buffer.from(text, 'latin1');
    for (let i = 0; i < bytes.length; i += size)
      kept.push(...filter.filter(bytes.subarray(i, i + size)).map((b) => Buffer.from(b)));
    filter.end();
    return { kept: Buffer.concat(kept).toString('latin1'), found: filter.found, last: filter.last };
  }

  it('keeps the lines written after the last one shipped, though the clock stamped them earlier', () => {
    const shipped = line(at(30), 'one') + line(at(40), 'two') + line(at(50), 'three');
    const first = resume(shipped, null, 7);
    assert.equal(first.kept, shipped);
    assert.equal(first.last?.stamp, at(50).slice(0, 30));
    // The clock stepped back 30 s after "three": the next lines carry times before it.
    const after = line(at(20), 'four') + line(at(21), 'five') + line(at(55), 'six');
    for (const size of [1, 5, 64, 4096]) {
      const next = resume(shipped + after, first.last, size);
      assert.equal(next.found, true);
      assert.equal(next.kept, after, `chunks of ${size}`);
      assert.equal(next.last?.stamp, at(55).slice(0, 30));
    }
  });

  it('tells the last line from one of the same time, and says when it is gone from the log', () => {
    const text = line(at(30), 'same time a') + line(at(30), 'same time b') + line(at(31), 'later');
    const upToA = resume(line(at(30), 'same time a'), null, 100).last;
    assert.equal(resume(text, upToA, 9).kept, line(at(30), 'same time b') + line(at(31), 'later'));
    const gone = resume(line(at(40), 'rotated') + line(at(41), 'away'), upToA, 9);
    assert.equal(gone.found, false);
    assert.equal(gone.kept, '');
  });
});

describe('stepBackNs', () => {
  const sample = (wallMs: number, uptimeMs: number, bootId = 'b1') => ({ wallMs, uptimeMs, bootId });
  it('is how far the wall clock went back against the uptime, within one boot only', () => {
    assert.equal(stepBackNs(sample(1_000_000, 50_000), sample(1_000_000 + 600_000, 50_000 + 600_000)), 0n);
    assert.equal(stepBackNs(sample(1_000_000, 50_000), sample(1_000_000 + 540_000, 50_000 + 600_000)), 60_000_000_000n);
    assert.equal(stepBackNs(sample(1_000_000, 50_000), sample(900_000, 60_000, 'b2')), 0n);
    assert.equal(stepBackNs(undefined, sample(1, 1)), 0n);
  });
});

describe('describeGap (issue 19: every gap said as what happened)', () => {
  const gap = (kind: GapKind | undefined) => ({
    short: 'backend',
    container: 'mizual-backend',
    oldContainerId: 'a'.repeat(64),
    newContainerId: 'b'.repeat(64),
    lastShippedAt: '2026-12-02T10:00:00.000000000Z',
    reason: 'log file /x/y.1.gz: it could not be read',
    ...(kind ? { kind } : {}),
  });
  it('names a recreation, a deleted held file, a rotation past max-file and an unreadable file apart', () => {
    const lines = (['removed-unheld', 'held-file-deleted', 'rotated-away', 'unreadable', undefined] as const).map((k) =>
      describeGap(gap(k)),
    );
    assert.match(
      lines[0]!,
      /^mizual-backend was recreated \(a{12} → b{12}\) and the old one removed before its log was held/,
    );
    assert.match(
      lines[1]!,
      /^mizual-backend \(a{12}\): a held log file was deleted before it was shipped; its lines after 2026-12-02T10:00:00/,
    );
    assert.match(lines[2]!, /^mizual-backend \(a{12}\): a log file was rotated past max-file between two runs/);
    assert.equal(lines[3], 'mizual-backend (aaaaaaaaaaaa): log file /x/y.1.gz: it could not be read');
    assert.equal(lines[4], lines[0], 'an older manifest without kind reads as a recreation');
    assert.equal(new Set(lines.slice(0, 4)).size, 4);
  });
});
