// Downloads for mizual-fetch-logs: bounded concurrency, temp file + rename so a cut transfer never
// leaves a partial file under the final name, and a small per-directory index of ETags so an archive
// already present with the same size and ETag is not fetched again.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../core/errors.js';
import { mapLimit } from '../core/concurrency.js';
import { noSpaceError } from '../core/disk-space.js';
import { writeFileAtomic } from '../core/state-files.js';
import type { ArchiveKey } from '../archive/contract.js';
import { type Store } from '../store/client.js';
import { isRetryable, TransferCutError } from '../store/errors.js';
import { RETRY_ATTEMPTS, retryDelayMs } from '../store/retry.js';

export interface RemoteArchive extends ArchiveKey {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface DownloadItem {
  archive: RemoteArchive;
  /** Final local path of the archive. */
  file: string;
}

export type DownloadStatus = 'downloaded' | 'skipped' | 'failed';

export interface DownloadOutcome extends DownloadItem {
  status: DownloadStatus;
  error?: string;
}

export interface DownloadProgress {
  files: number;
  doneFiles: number;
  bytes: number;
  doneBytes: number;
}

export interface DownloadOptions {
  /** Transfers in flight (default 4). */
  concurrency?: number;
  /** Attempts per archive when the body is cut mid-transfer (default: the store's RETRY_ATTEMPTS). */
  attempts?: number;
  /** Delay before a retry, in milliseconds (default: the store's backoff). */
  retryDelayMs?: number;
  onProgress?: (progress: DownloadProgress) => void;
  /** Called in the same lane right after each archive is in place (or skipped), e.g. to extract it. */
  onReady?: (outcome: DownloadOutcome) => Promise<void>;
}

export const INDEX_FILE = '.mizual-fetch.json';

interface IndexData {
  format: 1;
  files: Record<string, { etag: string; size: number }>;
}

/** The ETag index of one directory; writes are serialised and atomic. */
class DirIndex {
  private data: Promise<IndexData>;
  private writing: Promise<void> = Promise.resolve();
  constructor(private readonly dir: string) {
    this.data = readFile(path.join(dir, INDEX_FILE), 'utf8')
      .then((text) => {
        const parsed = JSON.parse(text) as IndexData;
        return parsed && typeof parsed.files === 'object' ? parsed : { format: 1 as const, files: {} };
      })
      .catch(() => ({ format: 1 as const, files: {} }));
  }
  async get(name: string): Promise<{ etag: string; size: number } | undefined> {
    return (await this.data).files[name];
  }
  async set(name: string, value: { etag: string; size: number }): Promise<void> {
    // A new document each time, never the one a write in flight is serialising.
    const data = this.data.then((d) => ({ ...d, files: { ...d.files, [name]: value } }));
    this.data = data;
    const write = async (): Promise<void> => {
      await writeFileAtomic(path.join(this.dir, INDEX_FILE), `${JSON.stringify(await data, null, 1)}\n`, 0o600);
    };
    this.writing = this.writing.then(write, write);
    await this.writing;
  }
}

/** True when `file` already holds this archive: same size, and the ETag we recorded when we fetched it. */
async function isCurrent(index: DirIndex, item: DownloadItem): Promise<boolean> {
  const info = await stat(item.file).catch(() => null);
  if (!info?.isFile() || info.size !== item.archive.size) return false;
  const known = await index.get(path.basename(item.file));
  return known !== undefined && known.etag === item.archive.etag && known.size === item.archive.size;
}

/** Stream one object into a temp file beside `file`, then rename it into place. */
async function fetchOnce(store: Store, item: DownloadItem, onBytes: (n: number) => void): Promise<void> {
  const dir = path.dirname(item.file);
  const tmp = path.join(dir, `.${path.basename(item.file)}.${randomBytes(4).toString('hex')}.part`);
  let received = 0;
  try {
    // The request itself was already retried by the store's policy; only a cut body is retried here.
    const body = await store.getObjectStream(item.archive.key);
    await pipeline(
      body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          received += chunk.length;
          onBytes(chunk.length);
          yield chunk;
        }
      },
      createWriteStream(tmp, { flags: 'wx', mode: 0o600 }),
    ).catch((err: unknown) => {
      // A connection lost in the middle of the body: the SDK had already handed it over.
      throw isRetryable(err) ? new TransferCutError(`transfer cut after ${received} bytes`, { cause: err }) : err;
    });
    if (received !== item.archive.size) {
      throw new TransferCutError(`transfer ended after ${received} of ${item.archive.size} bytes`);
    }
    await rename(tmp, item.file);
  } catch (err) {
    onBytes(-received);
    await rm(tmp, { force: true });
    throw (await noSpaceError(err, path.basename(item.file), tmp, item.archive.size)) ?? err;
  }
}

/** Download every item not already present, at most `concurrency` at a time; never throws for one archive. */
export async function downloadArchives(
  store: Store,
  items: DownloadItem[],
  options: DownloadOptions = {},
): Promise<DownloadOutcome[]> {
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const attempts = Math.max(1, options.attempts ?? RETRY_ATTEMPTS);
  const indexes = new Map<string, DirIndex>();
  const progress: DownloadProgress = {
    files: items.length,
    doneFiles: 0,
    bytes: items.reduce((sum, i) => sum + i.archive.size, 0),
    doneBytes: 0,
  };
  const report = (): void => options.onProgress?.({ ...progress });

  const handle = async (item: DownloadItem): Promise<DownloadOutcome> => {
    const dir = path.dirname(item.file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let index = indexes.get(dir);
    if (!index) indexes.set(dir, (index = new DirIndex(dir)));
    if (await isCurrent(index, item)) {
      progress.doneBytes += item.archive.size;
      return { ...item, status: 'skipped' };
    }
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await fetchOnce(store, item, (n) => {
          progress.doneBytes += n;
          report();
        });
        await index.set(path.basename(item.file), { etag: item.archive.etag, size: item.archive.size });
        return { ...item, status: 'downloaded' };
      } catch (err) {
        lastError = err;
        // Only a cut body: a request's own failures were retried by the store's policy (store/retry.ts),
        // and a missing object, a refused request or a full disk will not get better by asking again.
        if (!(err instanceof TransferCutError)) break;
        if (attempt < attempts) await sleep(options.retryDelayMs ?? retryDelayMs(attempt));
      }
    }
    return { ...item, status: 'failed', error: describeError(lastError) };
  };

  report();
  // Each archive's failure is its outcome, so one bad download never stops the others.
  return mapLimit(items, concurrency, async (item) => {
    const outcome = await handle(item).catch((err: unknown): DownloadOutcome => ({
      ...item,
      status: 'failed',
      error: describeError(err),
    }));
    progress.doneFiles++;
    report();
    if (options.onReady) await options.onReady(outcome);
    return outcome;
  });
}
