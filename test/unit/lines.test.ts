import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter } from '../../src/core/lines.js';
import { FrameLines } from '../../src/docker/frames.js';

describe('the one line splitter', () => {
  const text = 'first line\nzweite Zeile mit ü und €\n\nlast without newline';
  const bytes = Buffer.from(text);

  it('gives the same lines whatever the chunking, a UTF-8 character cut in two included', () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (const size of [1, 3, 7, bytes.length]) {
        const splitter = new LineSplitter();
        const lines: string[] = [];
        const chunks = [bytes.subarray(0, cut)];
        for (let i = cut; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
        // The caller reuses its buffer: what the splitter keeps must be its own copy.
        for (const chunk of chunks) {
          const reused = Buffer.from(chunk);
          splitter.push(reused, (line) => lines.push(line.toString('utf8')));
          reused.fill(0x21);
        }
        const rest = splitter.end();
        if (rest) lines.push(rest.toString('utf8'));
        assert.deepEqual(lines, text.split('\n'), `cut ${cut} size ${size}`);
      }
    }
  });

  it('keeps a log line Docker cut into several frames as one line (stdout and stderr apart)', () => {
    const split = new FrameLines(true);
    const got = [
      ...split.push({ stream: 'stdout', data: Buffer.from('2026-11-25T09:00:00.000000001Z part one ') }),
      ...split.push({ stream: 'stderr', data: Buffer.from('2026-11-25T09:00:00.000000002Z an error\n') }),
      ...split.push({ stream: 'stdout', data: Buffer.from('2026-11-25T09:00:00.000000001Z part two\n') }),
      ...split.end(),
    ];
    assert.deepEqual(got, [
      { stream: 'stderr', timestamp: '2026-11-25T09:00:00.000000002Z', text: 'an error' },
      { stream: 'stdout', timestamp: '2026-11-25T09:00:00.000000001Z', text: 'part one part two' },
    ]);
  });
});
