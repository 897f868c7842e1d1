// The S3/B2 object store: the only module that imports `@aws-sdk/*`.
// B2's S3 API rejects the SDK's default integrity headers (x-amz-checksum-*, aws-chunked bodies),
// so checksums are only sent where the API requires them, and batch DeleteObjects (which always
// carries one) is never used.
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { mapLimit } from '../core/concurrency.js';
import { resolveRegion } from '../core/config.js';
import { MizualError } from '../core/errors.js';
import { isNotFound, errorName, translateError, type ErrorContext } from './errors.js';
import { RETRY_ATTEMPTS, retryStrategy } from './retry.js';
import { multipartUpload, partSizeFor, readPart, type PartsApi } from './upload.js';

// The SDK warns on every run under Node < 22 (cron would mail it); it reads this variable when a
// client is constructed, and the SDK itself is only loaded lazily below, after this line has run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface StoreConfig {
  endpoint: string;
  /** Signing region; defaults to the one named by a B2 endpoint, else us-east-1. */
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  /** Milliseconds to establish a connection (default 5 s). */
  connectionTimeoutMs?: number;
  /** Milliseconds a request's socket may stay silent before it is given up (default 60 s). */
  socketTimeoutMs?: number;
  /** Attempts per request, including the first (default RETRY_ATTEMPTS, see retry.ts). */
  maxAttempts?: number;
}

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface ObjectHead {
  size: number;
  etag: string;
  lastModified: Date;
  /** The object's user metadata (`x-amz-meta-*`, names in lower case). */
  metadata?: Record<string, string>;
}

export interface ObjectVersion {
  key: string;
  versionId: string;
  isLatest: boolean;
  isDeleteMarker: boolean;
  /** 0 for delete markers. */
  size: number;
  lastModified: Date;
}

export interface VersionRef {
  key: string;
  versionId: string;
}

export interface OpenUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

export interface OwnUploadsSweep {
  /** Keys of the uploads aborted. */
  aborted: string[];
  /** Keys of the uploads whose abort failed, or a listing that failed: the stale sweep of a later run finds them. */
  failed: string[];
}

/**
 * A server accepts a signed request only while the clocks agree within 15 minutes, so an upload this
 * process began was initiated, by the server's clock, no earlier than that before the run began.
 */
export const MAX_CLOCK_SKEW_MS = 15 * 60_000;

export interface PutOptions {
  /** Multipart part size in bytes (default 8 MiB, at least 5 MiB); each part in flight is held in memory. */
  partSize?: number;
  /** Parts uploaded at once (default 2). */
  queueSize?: number;
  /** User metadata stored with the object (`x-amz-meta-<name>`). */
  metadata?: Record<string, string>;
}

export interface ListOptions {
  /** Keys per page request (S3's MaxKeys, at most 1000); small values only make sense in tests. */
  pageSize?: number;
}

export interface Store {
  readonly bucket: string;
  readonly endpoint: string;
  readonly region: string;
  /** Upload a local file (multipart above the part size, 8 MiB by default, two parts in flight); returns what the server holds. */
  putFile(key: string, path: string, options?: PutOptions): Promise<ObjectInfo>;
  /** Size, ETag and time of an object, or null when there is none. */
  headObject(key: string): Promise<ObjectHead | null>;
  /** Every object under a prefix, following pagination. */
  listKeys(prefix: string, options?: ListOptions): Promise<ObjectInfo[]>;
  /** The "directories" directly under a prefix (each ends with the delimiter). */
  listCommonPrefixes(prefix: string, delimiter?: string, options?: ListOptions): Promise<string[]>;
  /** The body of an object as a stream; throws a MizualError when it does not exist. */
  getObjectStream(key: string): Promise<Readable>;
  /** Every version and delete marker under a prefix (a versioned bucket keeps both). */
  listVersions(prefix: string, options?: ListOptions): Promise<ObjectVersion[]>;
  /** Delete exact versions, one request each; returns how many were deleted. */
  deleteVersions(refs: VersionRef[]): Promise<number>;
  /** Multipart uploads begun under a prefix and neither completed nor aborted. */
  listOpenUploads(prefix: string): Promise<OpenUpload[]>;
  /** Abort one multipart upload (its parts stop being billed). */
  abortUpload(upload: OpenUpload): Promise<void>;
  /**
   * Abort what this store's own multipart uploads left open: every upload it began and did not complete
   * (by upload id, whatever its key), and every open upload under `prefix` begun since this store was made
   * (one whose CreateMultipartUpload answer was lost, so its id was never known). No request when every
   * multipart upload this store began completed and its key was checked for leftovers.
   */
  finishOwnUploads(prefix: string): Promise<OwnUploadsSweep>;
  /** The bytes of the parts an unfinished multipart upload holds (billed until it is aborted). */
  uploadedPartBytes(upload: OpenUpload): Promise<number>;
  /** Store a small object from memory (one PutObject). */
  putBytes(key: string, body: Buffer): Promise<void>;
  /** The bucket's versioning: `Enabled`, `Suspended`, or `never enabled`. */
  versioning(): Promise<string>;
  /** Release sockets so the process can exit promptly. */
  close(): void;
}

/**
 * Every page of a listing that pages by a key marker and a second marker (an upload id, a version id):
 * ListMultipartUploads and ListObjectVersions.
 */
async function* markedPages<P extends { IsTruncated?: boolean; NextKeyMarker?: string }>(
  list: (keyMarker?: string, secondMarker?: string) => Promise<P>,
  nextSecond: (page: P) => string | undefined,
): AsyncGenerator<P> {
  let keyMarker: string | undefined;
  let secondMarker: string | undefined;
  for (;;) {
    const page = await list(keyMarker, secondMarker);
    yield page;
    if (!page.IsTruncated || page.NextKeyMarker === undefined) return;
    keyMarker = page.NextKeyMarker;
    secondMarker = nextSecond(page);
  }
}

const UPLOAD_QUEUE = 2;
const DELETE_CONCURRENCY = 4;

/** Build a store over one bucket. Loads the AWS SDK on first use, so callers pay for it only here. */
export async function createStore(cfg: StoreConfig): Promise<Store> {
  let endpointUrl: URL;
  try {
    endpointUrl = new URL(cfg.endpoint);
  } catch {
    throw new MizualError(`S3 endpoint is not a URL: ${cfg.endpoint}`);
  }
  const region = resolveRegion(cfg.endpoint, cfg.region);
  const maxAttempts = Math.max(1, cfg.maxAttempts ?? RETRY_ATTEMPTS);
  const s3 = await import('@aws-sdk/client-s3');
  const client = new s3.S3Client({
    endpoint: endpointUrl.toString(),
    region,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    // B2 serves buckets by path; virtual-host names also break on loopback test servers.
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts,
    retryStrategy: retryStrategy(maxAttempts),
    // Options for the SDK's own NodeHttpHandler, so we need not depend on @smithy/node-http-handler.
    // An idle-socket limit rather than requestTimeout: the latter caps a whole 8 MiB part upload on a
    // slow uplink, and unless told to throw it only prints a warning to the console.
    requestHandler: {
      connectionTimeout: cfg.connectionTimeoutMs ?? 5_000,
      socketTimeout: cfg.socketTimeoutMs ?? 60_000,
    },
  });
  const ctx: ErrorContext = { bucket: cfg.bucket, endpoint: endpointUrl.origin, secret: cfg.secretAccessKey };
  const bucket = cfg.bucket;
  // This store's multipart uploads not known to be finished: the ids it began and neither completed nor
  // aborted, and how many of its multipart uploads were not followed by a successful check of their key.
  const begun = new Map<string, string>();
  let unchecked = 0;
  const madeAtMs = Date.now();

  async function call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw translateError(err, operation, ctx);
    }
  }

  async function headObject(key: string): Promise<ObjectHead | null> {
    try {
      const out = await client.send(new s3.HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        size: out.ContentLength ?? 0,
        etag: out.ETag ?? '',
        lastModified: out.LastModified ?? new Date(0),
        metadata: out.Metadata ?? {},
      };
    } catch (err) {
      if (!isNotFound(err)) throw translateError(err, 'HeadObject', ctx);
    }
    // HeadObject has no body, so a missing key and a missing bucket both arrive as a bare 404.
    try {
      await client.send(new s3.HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if (isNotFound(err)) throw new MizualError(`bucket not found: ${bucket}`, 1, { cause: err });
      throw translateError(err, 'HeadBucket', ctx);
    }
    return null;
  }

  async function putFile(key: string, path: string, options: PutOptions = {}): Promise<ObjectInfo> {
    const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new MizualError(`cannot read ${path}: ${err.code ?? 'error'}`);
    });
    let size: number;
    try {
      size = (await handle.stat()).size;
      const partSize = partSizeFor(size, options.partSize);
      if (size <= partSize) {
        const body = await readPart(handle, Buffer.allocUnsafe(size), 0, path);
        await call('PutObject', () =>
          client.send(
            new s3.PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: body,
              ContentLength: size,
              Metadata: options.metadata,
            }),
          ),
        );
      } else {
        unchecked++;
        await multipartUpload(
          partsApi(key, options.metadata),
          { handle, size, name: path },
          partSize,
          options.queueSize ?? UPLOAD_QUEUE,
        );
        if (await abortLeftovers(key)) unchecked--;
      }
    } finally {
      await handle.close();
    }
    // Some servers answer CompleteMultipartUpload with an empty ETag; ask for what actually landed.
    const head = await headObject(key);
    if (!head) throw new MizualError(`upload of ${key} finished but the object is not there`);
    if (head.size !== size) {
      throw new MizualError(`upload of ${key} stored ${head.size} bytes, expected ${size}`);
    }
    return { key, ...head };
  }

  /** The four multipart calls for one key, each failure translated into one clear line. */
  function partsApi(key: string, metadata?: Record<string, string>): PartsApi {
    return {
      create: async () => {
        const out = await call('CreateMultipartUpload', () =>
          client.send(new s3.CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: metadata })),
        );
        if (!out.UploadId)
          throw new MizualError(`S3 request failed: no UploadId from CreateMultipartUpload for ${key}`);
        begun.set(out.UploadId, key);
        return out.UploadId;
      },
      uploadPart: async (uploadId, partNumber, body) => {
        const out = await call('UploadPart', () =>
          client.send(
            new s3.UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: partNumber,
              Body: body,
              ContentLength: body.length,
            }),
          ),
        );
        if (!out.ETag) throw new MizualError(`S3 request failed: no ETag for part ${partNumber} of ${key}`);
        return out.ETag;
      },
      complete: async (uploadId, parts) => {
        await call('CompleteMultipartUpload', () =>
          client.send(
            new s3.CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
            }),
          ),
        );
        begun.delete(uploadId);
      },
      abort: async (uploadId) => {
        await client.send(new s3.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
        begun.delete(uploadId);
      },
    };
  }

  async function listOpenUploads(prefix: string): Promise<OpenUpload[]> {
    const found: OpenUpload[] = [];
    const list = (KeyMarker?: string, UploadIdMarker?: string) =>
      call('ListMultipartUploads', () =>
        client.send(new s3.ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker, UploadIdMarker })),
      );
    for await (const page of markedPages(list, (p) => p.NextUploadIdMarker)) {
      for (const u of page.Uploads ?? []) {
        // The prefix is the server's filter; this is ours, so nothing outside it is ever touched.
        if (u.Key === undefined || u.UploadId === undefined || !u.Key.startsWith(prefix)) continue;
        found.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
      }
    }
    return found;
  }

  async function uploadedPartBytes(upload: OpenUpload): Promise<number> {
    let bytes = 0;
    let PartNumberMarker: string | undefined;
    for (;;) {
      const page = await call('ListParts', () =>
        client.send(
          new s3.ListPartsCommand({ Bucket: bucket, Key: upload.key, UploadId: upload.uploadId, PartNumberMarker }),
        ),
      );
      for (const part of page.Parts ?? []) bytes += part.Size ?? 0;
      if (!page.IsTruncated || page.NextPartNumberMarker === undefined) return bytes;
      PartNumberMarker = String(page.NextPartNumberMarker);
    }
  }

  async function putBytes(key: string, body: Buffer): Promise<void> {
    await call('PutObject', () =>
      client.send(new s3.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length })),
    );
  }

  async function abortUpload(upload: OpenUpload): Promise<void> {
    await call('AbortMultipartUpload', () =>
      client.send(new s3.AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.key, UploadId: upload.uploadId })),
    );
  }

  /**
   * After a multipart upload completed, abort any other upload of the same key: a CreateMultipartUpload
   * whose answer was lost and that the SDK retried left one behind. Best effort; the shipper's stale
   * sweep catches what this misses.
   */
  async function abortLeftovers(key: string): Promise<boolean> {
    try {
      for (const u of await listOpenUploads(key)) if (u.key === key) await abortUpload(u);
      return true;
    } catch {
      // The object is safely stored; what is left is finishOwnUploads' (or the stale sweep's) to find.
      return false;
    }
  }

  async function finishOwnUploads(prefix: string): Promise<OwnUploadsSweep> {
    const sweep: OwnUploadsSweep = { aborted: [], failed: [] };
    if (unchecked === 0 && begun.size === 0) return sweep;
    let open: OpenUpload[];
    try {
      open = await listOpenUploads(prefix);
    } catch {
      // Unlisted, the ids this store knows can still be aborted.
      open = [...begun].map(([uploadId, key]) => ({ key, uploadId, initiated: new Date(0) }));
      if (unchecked > 0) sweep.failed.push(prefix);
    }
    const since = madeAtMs - MAX_CLOCK_SKEW_MS;
    for (const upload of open) {
      if (!begun.has(upload.uploadId) && upload.initiated.getTime() < since) continue;
      try {
        await abortUpload(upload);
        begun.delete(upload.uploadId);
        sweep.aborted.push(upload.key);
      } catch {
        sweep.failed.push(upload.key);
      }
    }
    if (sweep.failed.length === 0) unchecked = 0;
    return sweep;
  }

  /** Every page of a ListObjectsV2 listing (with a delimiter: also the common prefixes), following continuation tokens. */
  async function* listPages(prefix: string, delimiter: string | undefined, options: ListOptions) {
    let token: string | undefined;
    do {
      const page = await call('ListObjectsV2', () =>
        client.send(
          new s3.ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            Delimiter: delimiter,
            ContinuationToken: token,
            MaxKeys: options.pageSize,
          }),
        ),
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async function listKeys(prefix: string, options: ListOptions = {}): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    for await (const page of listPages(prefix, undefined, options)) {
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined) continue;
        found.push({
          key: item.Key,
          size: item.Size ?? 0,
          etag: item.ETag ?? '',
          lastModified: item.LastModified ?? new Date(0),
        });
      }
    }
    return found;
  }

  async function listCommonPrefixes(prefix: string, delimiter = '/', options: ListOptions = {}): Promise<string[]> {
    const found: string[] = [];
    for await (const page of listPages(prefix, delimiter, options)) {
      for (const item of page.CommonPrefixes ?? []) if (item.Prefix !== undefined) found.push(item.Prefix);
    }
    return found;
  }

  async function getObjectStream(key: string): Promise<Readable> {
    try {
      const out = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key }));
      // In Node the body is an http.IncomingMessage with the SDK's helpers mixed in.
      return out.Body as Readable;
    } catch (err) {
      if (errorName(err) === 'NoSuchKey') throw new MizualError(`object not found: ${key}`, 1, { cause: err });
      throw translateError(err, 'GetObject', ctx);
    }
  }

  async function listVersions(prefix: string, options: ListOptions = {}): Promise<ObjectVersion[]> {
    const found: ObjectVersion[] = [];
    const list = (KeyMarker?: string, VersionIdMarker?: string) =>
      call('ListObjectVersions', () =>
        client.send(
          new s3.ListObjectVersionsCommand({
            Bucket: bucket,
            Prefix: prefix,
            KeyMarker,
            VersionIdMarker,
            MaxKeys: options.pageSize,
          }),
        ),
      );
    for await (const page of markedPages(list, (p) => p.NextVersionIdMarker)) {
      // Versions and delete markers alike; a marker has no size.
      const entries = [
        ...(page.Versions ?? []).map((v) => ({ ...v, isDeleteMarker: false })),
        ...(page.DeleteMarkers ?? []).map((m) => ({ ...m, Size: 0, isDeleteMarker: true })),
      ];
      for (const e of entries) {
        if (e.Key === undefined) continue;
        found.push({
          key: e.Key,
          versionId: e.VersionId ?? 'null',
          isLatest: e.IsLatest ?? false,
          isDeleteMarker: e.isDeleteMarker,
          size: e.Size ?? 0,
          lastModified: e.LastModified ?? new Date(0),
        });
      }
    }
    return found;
  }

  async function deleteVersions(refs: VersionRef[]): Promise<number> {
    await mapLimit(refs, DELETE_CONCURRENCY, (ref) =>
      call('DeleteObject', () =>
        client.send(new s3.DeleteObjectCommand({ Bucket: bucket, Key: ref.key, VersionId: ref.versionId })),
      ),
    );
    return refs.length;
  }

  return {
    bucket,
    endpoint: endpointUrl.origin,
    region,
    putFile,
    headObject,
    listKeys,
    listCommonPrefixes,
    getObjectStream,
    listVersions,
    deleteVersions,
    listOpenUploads,
    abortUpload,
    finishOwnUploads,
    uploadedPartBytes,
    putBytes,
    versioning: async () => {
      const out = await call('GetBucketVersioning', () =>
        client.send(new s3.GetBucketVersioningCommand({ Bucket: bucket })),
      );
      return out.Status ?? 'never enabled';
    },
    close: () => client.destroy(),
  };
}
