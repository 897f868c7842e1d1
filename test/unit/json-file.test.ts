import assert from 'node:assert/strict';
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { formatNanoTime, parseNanoTime } from '../../src/core/time.js';
import { FrameCopier } from '../../src/docker/frames.js';
import { JsonFileCopier } from '../../src/docker/json-file.js';
import { listGenerations } from '../../src/docker/log-files.js';
import type { EntrySpool } from '../../src/ship/export.js';
import { closeCandidates, exportSegments, gatherCandidates, planSegments } from '../../src/ship/file-source.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-json-file-');
after(() => scratch.cleanup());

interface Entry {
  stream: 'stdout' | 'stderr';
  /** The decoded message, as the program wrote it (Docker stores U+FFFD for invalid bytes). */
  log: string;
  /** Docker's `time`, trailing zeros trimmed. */
  time: string;
  attrs?: Record<string, string>;
}

/** A json-file line the way dockerd writes it: key order log, stream, [attrs,] time; <>& escaped. */
function jsonLine(e: Entry): string {
  const escape = (text: string) =>
    JSON.stringify(text)
      .replace(/</g, '\\u003c')
      .replace(/>/g, '\\u003e')
      .replace(/&/g, '\\u0026')
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029');
  const attrs = e.attrs ? `,"attrs":${JSON.stringify(e.attrs)}` : '';
  return `{"log":${escape(e.log)},"stream":"${e.stream}"${attrs},"time":"${e.time}"}\n`;
}

/** The Engine API's multiplexed `--timestamps` stream for the same entries: one frame per entry. */
function apiStream(entries: Entry[]): Buffer {
  return Buffer.concat(
    entries.map((e) => {
      const payload = Buffer.from(`${formatNanoTime(parseNanoTime(e.time))} ${e.log}`, 'utf8');
      const header = Buffer.alloc(8);
      header[0] = e.stream === 'stdout' ? 1 : 2;
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    }),
  );
}

function viaApi(entries: Entry[]): Buffer {
  const copier = new FrameCopier();
  const out = Buffer.from(copier.transform(apiStream(entries)));
  copier.end();
  return out;
}

/** The file source over the same entries, fed in chunks cut at every complete line boundary we choose. */
function viaFile(entries: Entry[], chunkLines = 3): Buffer {
  const copier = new JsonFileCopier();
  const out: Buffer[] = [];
  for (let i = 0; i < entries.length; i += chunkLines) {
    const chunk = Buffer.from(
      entries
        .slice(i, i + chunkLines)
        .map(jsonLine)
        .join(''),
      'utf8',
    );
    const result = copier.copy(chunk, 0, chunk.length);
    assert.equal(result.unreadable, 0);
    out.push(Buffer.from(result.out));
  }
  return Buffer.concat(out);
}

const piece = 'p'.repeat(16_384);
const entries: Entry[] = [
  { stream: 'stdout', log: 'plain line\n', time: '2026-11-25T09:43:48.040200185Z' },
  { stream: 'stderr', log: 'to stderr\n', time: '2026-11-25T09:43:48.0402Z' },
  { stream: 'stdout', log: 'no fraction\n', time: '2026-11-25T09:43:49Z' },
  // A 40 KB line split by Docker: same stream, same time, no newline but in the last piece.
  { stream: 'stdout', log: piece, time: '2026-11-25T09:43:50.1Z' },
  { stream: 'stdout', log: piece, time: '2026-11-25T09:43:50.1Z' },
  { stream: 'stdout', log: `${'q'.repeat(7_232)}\n`, time: '2026-11-25T09:43:50.1Z' },
  // Escapes of every kind, raw UTF-8, a surrogate pair, a lone surrogate, U+FFFD for invalid bytes.
  {
    stream: 'stdout',
    log: '<a href="x">&amp;</a> \\ / \t \b \f \r é 中 😀 \ud800 \ufffd\ufffd \u2028\n',
    time: '2026-11-25T09:43:51.5Z',
  },
  { stream: 'stdout', log: 'control \u0001\u001f\n', time: '2026-11-25T09:43:51.6Z' },
  // A structured JSON app log: many escaped quotes (decoded by JSON.parse past a few escapes).
  {
    stream: 'stdout',
    log: `${JSON.stringify({ level: 'info', msg: 'a "quoted" <b> & c', n: [1, 2], path: 'C:\\x' })}\n`,
    time: '2026-11-25T09:43:51.7Z',
  },
  // An unfinished piece cut by the other stream, then one cut by a new time on the same stream.
  { stream: 'stdout', log: 'unfinished', time: '2026-11-25T09:43:52.1Z' },
  { stream: 'stderr', log: 'other stream\n', time: '2026-11-25T09:43:52.2Z' },
  { stream: 'stdout', log: 'cut', time: '2026-11-25T09:43:52.3Z' },
  { stream: 'stdout', log: 'restarted\n', time: '2026-11-25T09:43:52.4Z' },
  // --log-opt labels/env adds attrs before time.
  { stream: 'stdout', log: 'with attrs\n', time: '2026-11-25T09:43:53Z', attrs: { app: 'x"y' } },
  // A TTY line, and a final piece without a newline at exit.
  { stream: 'stdout', log: 'tty line\r\n', time: '2026-11-25T09:43:54.000000001Z' },
  { stream: 'stdout', log: 'no newline at exit', time: '2026-11-25T09:43:55.25Z' },
];

describe('JsonFileCopier', () => {
  it('writes exactly the bytes the Engine API path writes, however the lines are chunked', () => {
    const api = viaApi(entries);
    for (const chunkLines of [1, 2, 3, 5, entries.length]) {
      assert.deepEqual(
        viaFile(entries, chunkLines).toString('latin1'),
        api.toString('latin1'),
        `chunks of ${chunkLines}`,
      );
    }
    // And the long line came out as one line with each piece's timestamp, as `docker logs` prints it.
    const long = api.toString('utf8').split('\n')[3] as string;
    assert.equal(long.length, 40_000 + 3 * 31);
  });

  it('reports the last message boundary, so an unfinished message is not consumed', () => {
    const copier = new JsonFileCopier();
    const text = Buffer.from(jsonLine(entries[0]!) + jsonLine(entries[3]!) + jsonLine(entries[4]!));
    const result = copier.copy(text, 0, text.length);
    assert.equal(copier.open, true);
    assert.equal(result.boundaryIn, jsonLine(entries[0]!).length);
    assert.equal(result.out.subarray(0, result.boundaryOut).toString(), '2026-11-25T09:43:48.040200185Z plain line\n');
    assert.equal(copier.lastStamp, '2026-11-25T09:43:48.040200185Z');
  });

  it('reads the entry dockerd wrote after a crash left NULs before it on the same line', () => {
    const copier = new JsonFileCopier();
    const text = Buffer.concat([Buffer.alloc(300, 0), Buffer.from(jsonLine(entries[0]!))]);
    const result = copier.copy(text, 0, text.length);
    assert.equal(result.out.toString(), '2026-11-25T09:43:48.040200185Z plain line\n');
    assert.equal(result.unreadable, 0);
  });

  it('skips lines before a time, and lines that are not entries (a NUL-filled tail after a crash)', () => {
    const copier = new JsonFileCopier(parseNanoTime('2026-11-25T09:43:49Z'));
    const text = Buffer.concat([
      Buffer.from(jsonLine(entries[0]!) + jsonLine(entries[2]!)),
      Buffer.alloc(40, 0),
      Buffer.from('\n{"log":"broken\n'),
    ]);
    const result = copier.copy(text, 0, text.length);
    assert.equal(result.out.toString(), '2026-11-25T09:43:49.000000000Z no fraction\n');
    assert.equal(result.unreadable, 2);
  });
});

/** Create `file` with `content` until it gets inode `ino` back (ext4 reuses a freed inode at once); true when it did. */
function recreateWithInode(file: string, ino: string, content: string): boolean {
  for (let i = 0; i < 200; i++) {
    const fd = openSync(file, 'w');
    writeSync(fd, content);
    closeSync(fd);
    if (String(statSync(file).ino) === ino) return true;
    unlinkSync(file);
  }
  return false;
}

describe('log files by identity', () => {
  const dir = path.join(scratch.dir, 'containers', 'c1');
  mkdirSync(dir, { recursive: true });
  const live = path.join(dir, 'c1-json.log');
  const line = (n: number) =>
    jsonLine({ stream: 'stdout', log: `line ${n}\n`, time: `2026-11-25T10:00:${String(n).padStart(2, '0')}Z` });

  it('lists generations newest first, reads .gz, ignores *.tmp, and prefers .N over its .N.gz', async () => {
    writeFileSync(live, line(5));
    writeFileSync(`${live}.1`, line(3) + line(4));
    writeFileSync(`${live}.1.gz`, gzipSync(line(3) + line(4)));
    writeFileSync(`${live}.2.gz`, gzipSync(line(1) + line(2)));
    writeFileSync(`${live}.2.gz.tmp`, 'decompression scratch');
    const gens = await listGenerations(live);
    assert.deepEqual(
      gens.map((g) => [path.basename(g.path), g.index, g.compressed]),
      [
        ['c1-json.log', 0, false],
        ['c1-json.log.1', 1, false],
        ['c1-json.log.2.gz', 2, true],
      ],
    );
    const candidates = await gatherCandidates(live, []);
    try {
      assert.deepEqual(
        candidates.map((c) => path.basename(c.path)),
        ['c1-json.log.2.gz', 'c1-json.log.1', 'c1-json.log'],
        'oldest first, by first line',
      );
    } finally {
      await closeCandidates(candidates);
    }
    for (const f of [`${live}.1`, `${live}.1.gz`, `${live}.2.gz`, `${live}.2.gz.tmp`]) rmSync(f);
  });

  it("keeps Docker's order for generations that start with one timestamp (a long message rotated piece by piece)", async () => {
    const piece = (text: string) => jsonLine({ stream: 'stdout', log: text, time: '2026-11-25T10:00:00.5Z' });
    writeFileSync(`${live}.2`, piece('a'.repeat(100)));
    writeFileSync(`${live}.1`, piece('b'.repeat(100)));
    writeFileSync(live, piece('c\n'));
    const candidates = await gatherCandidates(live, []);
    try {
      assert.deepEqual(
        candidates.map((c) => path.basename(c.path)),
        ['c1-json.log.2', 'c1-json.log.1', 'c1-json.log'],
      );
    } finally {
      await closeCandidates(candidates);
    }
    // The same files held (the container is gone): the order they were linked in decides.
    const held = [`${live}.1`, `${live}.2`].map((file, i) => {
      const info = statSync(file);
      return {
        path: file,
        compressed: false,
        dev: String(info.dev),
        ino: String(info.ino),
        size: info.size,
        links: 1,
        seq: 2 - i,
      };
    });
    const fromHold = await gatherCandidates(null, held);
    try {
      assert.deepEqual(
        fromHold.map((c) => path.basename(c.path)),
        ['c1-json.log.2', 'c1-json.log.1'],
      );
    } finally {
      await closeCandidates(fromHold);
    }
    for (const f of [`${live}.1`, `${live}.2`]) rmSync(f);
  });

  it('names a .gz it cannot read (cut short by a crash) and reads the others', async () => {
    writeFileSync(live, line(9));
    writeFileSync(`${live}.1.gz`, gzipSync(line(7) + line(8)).subarray(0, 12));
    const unreadable: string[] = [];
    const candidates = await gatherCandidates(live, [], unreadable);
    try {
      assert.deepEqual(
        candidates.map((c) => path.basename(c.path)),
        ['c1-json.log'],
      );
      assert.equal(unreadable.length, 1);
      assert.match(unreadable[0] ?? '', /c1-json\.log\.1\.gz: /);
    } finally {
      await closeCandidates(candidates);
    }
    rmSync(`${live}.1.gz`);
  });

  it('tells a new file that reuses a checkpointed inode from the checkpointed file', async () => {
    writeFileSync(live, line(1) + line(2));
    let candidates = await gatherCandidates(live, []);
    const first = candidates[0]!;
    const position = {
      dev: first.dev,
      ino: first.ino,
      fingerprint: first.fingerprint,
      firstTime: formatNanoTime(first.firstTime!),
      offset: line(1).length,
    };
    assert.deepEqual(
      planSegments(candidates, position).segments.map((s) => s.from),
      [line(1).length],
    );
    await closeCandidates(candidates);
    // Delete it and create files until one gets the same inode back (ext4 reuses them at once).
    unlinkSync(live);
    const reused = recreateWithInode(live, first.ino, line(30) + line(31));
    candidates = await gatherCandidates(live, []);
    try {
      const plan = planSegments(candidates, position);
      assert.ok(reused, 'the file system gave the inode back (ext4 does at once), so this proves something');
      assert.equal(candidates[0]!.ino, first.ino);
      // Same device and inode, another first line: not the checkpoint's file. Read from its start, and
      // say the checkpointed one is gone.
      assert.equal(plan.lost, true);
      assert.deepEqual(
        plan.segments.map((s) => s.from),
        [0],
      );
    } finally {
      await closeCandidates(candidates);
    }
  });
});

describe('log files after a clock step back, and empty generations (issue 19)', () => {
  const at = (second: number) => `2026-11-25T11:00:${String(second).padStart(2, '0')}Z`;
  const lineAt = (n: number, second: number) => jsonLine({ stream: 'stdout', log: `line ${n}\n`, time: at(second) });
  /** What exportSegments copies, as the numbers of the lines. */
  async function shippedNumbers(segments: Parameters<typeof exportSegments>[0]): Promise<number[]> {
    const out: Buffer[] = [];
    const sink = { write: async (b: Buffer) => void out.push(Buffer.from(b)) } as unknown as EntrySpool;
    await exportSegments(segments, sink, { complete: false, skipBefore: null });
    return [
      ...Buffer.concat(out)
        .toString()
        .matchAll(/line (\d+)/g),
    ].map((m) => Number(m[1]));
  }
  const heldOf = (file: string, seq: number) => {
    const info = statSync(file);
    return {
      path: file,
      compressed: false,
      dev: String(info.dev),
      ino: String(info.ino),
      size: info.size,
      links: 2,
      seq,
    };
  };

  it('orders generations by the rotation chain and the hold, not by first-line times: a back-stepped generation is read', async () => {
    const dir = path.join(scratch.dir, 'containers', 'step');
    mkdirSync(dir, { recursive: true });
    const live = path.join(dir, 'step-json.log');
    // .2 was written at :50; then the clock stepped back 40 s: .1 and the live file start earlier than .2.
    writeFileSync(`${live}.2`, lineAt(1, 50) + lineAt(2, 51));
    writeFileSync(`${live}.1`, lineAt(3, 10) + lineAt(4, 11));
    writeFileSync(live, lineAt(5, 12));
    const holdDir = path.join(scratch.dir, 'hold-step');
    mkdirSync(holdDir, { recursive: true });
    const held = [`${live}.2`, `${live}.1`].map((f, i) => {
      const link = path.join(holdDir, path.basename(f));
      linkSync(f, link);
      return heldOf(link, i + 1);
    });
    const candidates = await gatherCandidates(live, held);
    try {
      assert.deepEqual(
        candidates.map((c) => path.basename(c.path)),
        ['step-json.log.2', 'step-json.log.1', 'step-json.log'],
      );
      // The checkpoint is at the end of .2: .1 and the live file follow it.
      const first = candidates[0]!;
      const position = {
        dev: first.dev,
        ino: first.ino,
        fingerprint: first.fingerprint,
        firstTime: formatNanoTime(first.firstTime!),
        offset: statSync(`${live}.2`).size,
      };
      const plan = planSegments(candidates, position);
      assert.equal(plan.lost, false);
      assert.deepEqual(await shippedNumbers(plan.segments), [3, 4, 5]);
    } finally {
      await closeCandidates(candidates);
    }
    // Gone (only the hold keeps them): the order they were linked in decides, not their times.
    const gone = await gatherCandidates(null, held);
    try {
      assert.deepEqual(
        gone.map((c) => path.basename(c.path)),
        ['step-json.log.2', 'step-json.log.1'],
      );
    } finally {
      await closeCandidates(gone);
    }
  });

  it('places a checkpoint on an empty generation by its predecessor, not by an inode that was reused', async () => {
    const dir = path.join(scratch.dir, 'containers', 'empty');
    mkdirSync(dir, { recursive: true });
    const live = path.join(dir, 'empty-json.log');
    // Just rotated: .1 holds lines 1-2, the live file has no line yet. No hold (or a hold across EXDEV).
    writeFileSync(`${live}.1`, lineAt(1, 1) + lineAt(2, 2));
    writeFileSync(live, '');
    let candidates = await gatherCandidates(live, []);
    const plan = planSegments(candidates, undefined);
    const emptyFile = plan.segments[1]!;
    assert.equal(emptyFile.candidate.fingerprint, null);
    const position = {
      dev: emptyFile.candidate.dev,
      ino: emptyFile.candidate.ino,
      fingerprint: null,
      firstTime: null,
      offset: 0,
      after: candidates[0]!.fingerprint,
    };
    const recorded = emptyFile.after;
    await closeCandidates(candidates);
    // Before the next run: the empty file fills (lines 3-4) and rotates, rotates again (lines 5-6) and
    // is deleted past max-file, as is .1; the new live file gets the empty file's inode back.
    unlinkSync(`${live}.1`);
    writeFileSync(`${live}.1`, lineAt(5, 5) + lineAt(6, 6));
    unlinkSync(live);
    const reused = recreateWithInode(live, position.ino, lineAt(7, 7));
    assert.ok(reused, 'the file system gave the inode back (ext4 does at once), so this proves something');
    candidates = await gatherCandidates(live, []);
    try {
      const next = planSegments(candidates, position);
      assert.deepEqual(await shippedNumbers(next.segments), [5, 6, 7], 'the generation between is not skipped');
      assert.equal(recorded, position.after, 'the plan records the predecessor the checkpoint keeps');
    } finally {
      await closeCandidates(candidates);
    }
    // An empty candidate that reuses the inode of a checkpoint with a first line is not that file.
    writeFileSync(live, '');
    candidates = await gatherCandidates(live, []);
    try {
      const real = candidates[0]!;
      const withLine = { dev: real.dev, ino: real.ino, fingerprint: real.fingerprint, firstTime: null, offset: 3 };
      const emptyNow = { ...withLine, ino: candidates[1]!.ino, fingerprint: 'f'.repeat(32) };
      assert.equal(planSegments(candidates, emptyNow).lost, true);
      assert.deepEqual(
        planSegments(candidates, emptyNow).segments.map((s) => s.from),
        [0, 0],
      );
    } finally {
      await closeCandidates(candidates);
    }
  });
});
