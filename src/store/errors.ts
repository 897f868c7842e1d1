/**
 * What the S3 API's and the network's failures mean to an operator: one MizualError line per failure
 * that names the operation and a fix, and never carries the secret.
 */
import { MizualError, oneLine } from '../core/errors.js';

export interface ErrorContext {
  bucket: string;
  endpoint: string;
  secret: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
]);

const HINTS: Record<string, string> = {
  SignatureDoesNotMatch: 'check S3_SECRET_ACCESS_KEY',
  InvalidAccessKeyId: 'check S3_ACCESS_KEY_ID',
  AccessDenied: "check the key's permissions on the bucket",
  InvalidAccessKey: 'check S3_ACCESS_KEY_ID',
  AuthorizationHeaderMalformed: 'check S3_REGION',
  RequestTimeTooSkewed: "this host's clock differs from the server's by more than 15 minutes; check NTP (timedatectl)",
};

/** HTTP answers that mean "ask again later" (timeout, throttled); every other 4xx will answer the same again. */
const RETRYABLE_STATUS = new Set([408, 429]);
const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);

/** A transfer the network cut short (a body that ended early): the same request can pass next time. */
export class TransferCutError extends MizualError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, undefined, options);
    this.name = 'TransferCutError';
  }
}

/**
 * Whether asking again can succeed: 5xx, 408, 429, throttling, resets, timeouts and cut transfers,
 * yes; a refused key, a bad signature, a skewed clock, a missing bucket or any other 4xx, never (they
 * fail the same way every time, so they fail at once). Our own errors count by their cause. The one
 * rule for the SDK's retries, the shipper's upload loop and fetch's downloads.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof TransferCutError) return true;
  if (err instanceof MizualError) return err.cause !== undefined && isRetryable(err.cause);
  const status = httpStatus(err);
  if (status !== undefined) return status >= 500 || RETRYABLE_STATUS.has(status) || RETRYABLE_NAMES.has(errorName(err));
  if (RETRYABLE_NAMES.has(errorName(err))) return true;
  if (networkCode(err) !== undefined) return true;
  // A local failure (a file we cannot read, a full disk) is not the network's and will not pass.
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return false;
  // Anything else without an HTTP answer (a reply cut mid-XML, a parser error) came from the transport.
  return true;
}

export function errorName(err: unknown): string {
  if (typeof err !== 'object' || err === null) return '';
  const e = err as { name?: unknown; Code?: unknown };
  return typeof e.Code === 'string' ? e.Code : typeof e.name === 'string' ? e.name : '';
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

export function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  return name === 'NotFound' || name === 'NoSuchKey' || (httpStatus(err) === 404 && name !== 'NoSuchBucket');
}

/** Find a network error code anywhere along the cause chain (the SDK wraps some). */
function networkCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    const name = (e as { name?: unknown }).name;
    if (name === 'TimeoutError' || code === 'ERR_SOCKET_CONNECTION_TIMEOUT') return 'timed out';
    e = (e as { cause?: unknown }).cause;
  }
  const message = err instanceof Error ? err.message : '';
  if (/socket hang up/i.test(message)) return 'connection closed';
  if (/timed? ?out/i.test(message)) return 'timed out';
  return undefined;
}

/** Turn an SDK or network error into one MizualError line that never carries the secret. */
export function translateError(err: unknown, operation: string, ctx: ErrorContext): MizualError {
  if (err instanceof MizualError) return err;
  const redact = (text: string): string => (ctx.secret ? text.split(ctx.secret).join('***') : text);
  const net = networkCode(err);
  if (net !== undefined && httpStatus(err) === undefined) {
    return new MizualError(`S3 endpoint not reachable: ${ctx.endpoint} (${net})`, 1, { cause: err });
  }
  const name = errorName(err);
  if (name === 'NoSuchBucket') return new MizualError(`bucket not found: ${ctx.bucket}`, 1, { cause: err });
  const status = httpStatus(err);
  const hint = HINTS[name];
  const label = name && name !== 'Error' && name !== 'Unknown' ? name : status ? `HTTP ${status}` : 'error';
  if (hint) return new MizualError(`S3 request failed: ${label} on ${operation} (${hint})`, 1, { cause: err });
  // Unknown errors keep the server's message, which is ours to show once the secret is masked.
  const message =
    err instanceof Error && err.message && err.message !== name ? `: ${redact(oneLine(err.message))}` : '';
  return new MizualError(`S3 request failed: ${label} on ${operation}${message}`, 1, { cause: err });
}
