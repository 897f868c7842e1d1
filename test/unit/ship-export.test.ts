import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameCopier } from '../../src/docker/frames.js';

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
