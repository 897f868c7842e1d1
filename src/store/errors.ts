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
};

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
