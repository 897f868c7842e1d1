/**
 * Find and abort the multipart uploads a run left unfinished under this host's own prefix: one killed
 * mid-upload, one whose deadline or signal abort did not answer in time, or the first of two
 * CreateMultipartUpload requests when the answer to it was lost and the SDK asked again. Each holds parts
 * B2 bills for and nothing lists. Only uploads begun longer ago than any run can last (its deadline) are
 * touched, and only under `logs/<env>/<host>/`: never another host's, never one still in progress.
 */
import { hostPrefix, type LogEnv } from '../archive/contract.js';
import { describeError } from '../core/errors.js';
import type { OpenUpload, Store } from '../store/client.js';

export interface StaleSweep {
  aborted: string[];
  /** Uploads that could not be aborted this time (tried again next run). */
  failed: string[];
}

/** Abort the uploads under this host's prefix begun before `nowMs - olderThanMs`. */
export async function abortStaleUploads(
  store: Pick<Store, 'listOpenUploads' | 'abortUpload'>,
  where: { env: LogEnv; hostname: string },
  nowMs: number,
  olderThanMs: number,
): Promise<StaleSweep> {
  const prefix = hostPrefix(where.env, where.hostname);
  const stale = (await store.listOpenUploads(prefix)).filter(
    (u: OpenUpload) => u.key.startsWith(prefix) && u.initiated.getTime() < nowMs - olderThanMs,
  );
  const sweep: StaleSweep = { aborted: [], failed: [] };
  for (const upload of stale) {
    try {
      await store.abortUpload(upload);
      sweep.aborted.push(upload.key);
    } catch {
      sweep.failed.push(upload.key);
    }
  }
  return sweep;
}

/** The shipper's sweep before it uploads: never fails the run, says on stderr what it aborted. */
export async function sweepStaleUploads(
  options: {
    config: { env: LogEnv; hostname: string };
    nowMs: number;
    staleUploadMs?: number;
    warn: (line: string) => void;
  },
  store: Pick<Store, 'listOpenUploads' | 'abortUpload'>,
): Promise<void> {
  try {
    const sweep = await abortStaleUploads(store, options.config, options.nowMs, options.staleUploadMs ?? 0);
    if (sweep.aborted.length > 0) {
      options.warn(
        `aborted ${sweep.aborted.length} unfinished upload(s) an earlier run left: ${sweep.aborted.join(', ')}`,
      );
    }
    if (sweep.failed.length > 0)
      options.warn(`could not abort unfinished upload(s) of ${sweep.failed.join(', ')}; the next run tries again`);
  } catch (err) {
    options.warn(`could not list unfinished uploads: ${describeError(err)}; the next run tries again`);
  }
}
