/**
 * Multipart upload of a local file, independent of the SDK: the store hands in the four S3 calls as a
 * PartsApi, so the order of parts and the abort on failure are unit-tested with a fake.
 */
import type { FileHandle } from 'node:fs/promises';
import { mapLimit } from '../core/concurrency.js';
import { MizualError } from '../core/errors.js';

export const PART_SIZE = 8 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;

/** The S3 calls a multipart upload makes, bound to one bucket and key. */
export interface PartsApi {
  /** CreateMultipartUpload; resolves with the UploadId. */
  create(): Promise<string>;
  /** UploadPart (1-based number); resolves with the part's ETag. */
  uploadPart(uploadId: string, partNumber: number, body: Buffer): Promise<string>;
  complete(uploadId: string, parts: { ETag: string; PartNumber: number }[]): Promise<void>;
  abort(uploadId: string): Promise<void>;
}

/** The part size for a file: as asked (default 8 MiB) but at least S3's 5 MiB, and large enough for 10,000 parts. */
export function partSizeFor(size: number, requested = PART_SIZE): number {
  return Math.max(requested, MIN_PART_SIZE, Math.ceil(size / MAX_PARTS));
}

/** Fill `target` from the file at `position`; a file that shrank underneath is an error, not a short part. */
export async function readPart(handle: FileHandle, target: Buffer, position: number, name: string): Promise<Buffer> {
  let filled = 0;
  while (filled < target.length) {
    const { bytesRead } = await handle.read(target, filled, target.length - filled, position + filled);
    if (bytesRead === 0) throw new MizualError(`${name} shrank while it was being uploaded`);
    filled += bytesRead;
  }
  return target;
}

/**
 * Upload a file in parts read into `queueSize` buffers that are reused for every part, so memory is
 * queueSize × partSize however large the file (lib-storage's Upload concatenates a fresh buffer per
 * part and held 20–26 MiB for 5 MiB parts, one in flight). Each part is signed with its SHA-256,
 * which the server checks. On failure the upload is aborted: orphaned parts are billed and invisible.
 */
export async function multipartUpload(
  api: PartsApi,
  file: { handle: FileHandle; size: number; name: string },
  partSize: number,
  queueSize: number,
): Promise<void> {
  const uploadId = await api.create();
  const forget = remember(() => api.abort(uploadId));
  const count = Math.ceil(file.size / partSize);
  const lanes = Math.max(1, Math.min(queueSize, count));
  const buffers: Buffer[] = [];
  try {
    const etags = await mapLimit(
      Array.from({ length: count }, (_, index) => index),
      lanes,
      async (index, lane) => {
        const buffer = (buffers[lane] ??= Buffer.allocUnsafe(partSize));
        const length = Math.min(partSize, file.size - index * partSize);
        const body = await readPart(file.handle, buffer.subarray(0, length), index * partSize, file.name);
        return api.uploadPart(uploadId, index + 1, body);
      },
    );
    await api.complete(
      uploadId,
      etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })),
    );
  } catch (err) {
    await api.abort(uploadId).catch(() => undefined);
    throw err;
  } finally {
    forget();
  }
}

/** The aborts of the multipart uploads under way in this process, for a deadline or a signal to run. */
const openUploads = new Set<() => Promise<void>>();

function remember(abort: () => Promise<void>): () => void {
  openUploads.add(abort);
  return () => openUploads.delete(abort);
}

/**
 * Abort every multipart upload this process has open, giving up after `timeoutMs`: the process is about
 * to exit (deadline, SIGTERM), and a part already sent is billed until the upload is aborted. Resolves
 * with how many were aborted; one whose abort did not answer in time is left to the next run's sweep.
 */
export async function abortOpenUploads(timeoutMs: number): Promise<{ aborted: number; left: number }> {
  const pending = [...openUploads];
  let aborted = 0;
  let timer: NodeJS.Timeout | undefined;
  const all = Promise.all(
    pending.map((abort) =>
      abort().then(
        () => void aborted++,
        () => undefined,
      ),
    ),
  );
  await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
  return { aborted, left: pending.length - aborted };
}
