import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { multipartUpload, type PartsApi } from '../../src/store/upload.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-upload-');
after(() => scratch.cleanup());

/** A fake S3 multipart API that records every call and keeps each part's bytes. */
function fakeApi(options: { failPart?: number; delayMs?: (part: number) => number } = {}) {
  const calls: string[] = [];
  const parts = new Map<number, Buffer>();
  let completed: { ETag: string; PartNumber: number }[] | undefined;
  let inFlight = 0;
  let maxInFlight = 0;
  const api: PartsApi = {
    create: async () => {
      calls.push('create');
      return 'upload-1';
    },
    uploadPart: async (uploadId, partNumber, body) => {
      calls.push(`part ${partNumber}`);
      assert.equal(uploadId, 'upload-1');
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, options.delayMs?.(partNumber) ?? 1));
      inFlight--;
      if (partNumber === options.failPart) throw new Error(`part ${partNumber} refused`);
      parts.set(partNumber, Buffer.from(body));
      return `"etag-${partNumber}"`;
    },
    complete: async (_id, list) => {
      calls.push('complete');
      completed = list;
    },
    abort: async () => {
      calls.push('abort');
    },
  };
  return { api, calls, parts, completed: () => completed, maxInFlight: () => maxInFlight };
}

async function withFile<T>(
  bytes: Buffer,
  run: (file: { handle: import('node:fs/promises').FileHandle; size: number; name: string }) => Promise<T>,
) {
  const name = path.join(scratch.dir, `f-${bytes.length}-${Math.random()}`);
  await writeFile(name, bytes);
  const handle = await open(name, 'r');
  try {
    return await run({ handle, size: bytes.length, name });
  } finally {
    await handle.close();
  }
}

describe('multipartUpload', () => {
  const data = Buffer.from(Array.from({ length: 10 * 1024 + 7 }, (_, i) => i % 251));

  it('sends every part once, completes with the ETags in part order even when parts finish out of order', async () => {
    // Part 1 is slowest: with two lanes, later parts finish first.
    const fake = fakeApi({ delayMs: (n) => (n === 1 ? 30 : 1) });
    await withFile(data, (file) => multipartUpload(fake.api, file, 1024, 2));
    assert.equal(fake.calls[0], 'create');
    assert.equal(fake.calls.at(-1), 'complete');
    assert.equal(fake.parts.size, 11);
    assert.deepEqual(
      fake.completed(),
      Array.from({ length: 11 }, (_, i) => ({ ETag: `"etag-${i + 1}"`, PartNumber: i + 1 })),
    );
    assert.deepEqual(Buffer.concat([...fake.parts.keys()].sort((a, b) => a - b).map((n) => fake.parts.get(n)!)), data);
    assert.equal(fake.maxInFlight(), 2, 'two parts in flight, no more');
  });

  it('aborts the upload when a part fails, starts no new part after it, and rethrows', async () => {
    const fake = fakeApi({ failPart: 3 });
    await assert.rejects(
      withFile(data, (file) => multipartUpload(fake.api, file, 1024, 1)),
      /part 3 refused/,
    );
    assert.deepEqual(fake.calls, ['create', 'part 1', 'part 2', 'part 3', 'abort']);
  });

  it('aborts when the file shrinks underneath', async () => {
    const fake = fakeApi();
    await assert.rejects(
      withFile(data, (file) => multipartUpload(fake.api, { ...file, size: file.size + 2048 }, 1024, 2)),
      /shrank while it was being uploaded/,
    );
    assert.equal(fake.calls.at(-1), 'abort');
    assert.ok(!fake.calls.includes('complete'));
  });
});
