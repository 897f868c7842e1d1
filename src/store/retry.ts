/**
 * The one retry policy of every bucket operation, in one place: each request is tried at most
 * `RETRY_ATTEMPTS` times (the SDK's retry strategy below), decided by isRetryable, with a jittered
 * backoff from about 0.5 s doubling to 8 s (or what the server asks for in Retry-After). Callers do not
 * wrap store calls in loops of their own: one part of an upload used to be sent up to 12 times (the
 * shipper's 4 tries of the whole upload, each with the SDK's 3 per part). The only other retry is of
 * a body cut mid-transfer (the SDK had already returned the answer), with the same attempts and delays.
 */
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { isRetryable } from './errors.js';

/** Attempts per request, the first included. */
export const RETRY_ATTEMPTS = 3;

/** The first delay: 500 ms; tests shorten it (MIZUAL_TEST_RETRY_DELAY_MS), never lengthen it. */
function baseDelayMs(): number {
  const asked = Number(process.env.MIZUAL_TEST_RETRY_DELAY_MS);
  return Number.isFinite(asked) && asked >= 0 && asked < 500 ? asked : 500;
}

/** The delay before retry number `retry` (1-based): doubling up to 8 s, jittered so parallel parts do not retry in step. */
export function retryDelayMs(retry: number, retryAfter?: Date): number {
  const base = baseDelayMs();
  const backoff = Math.min(16 * base, base * 2 ** (retry - 1)) * (0.5 + Math.random() / 2);
  const asked = retryAfter ? Math.min(retryAfter.getTime() - Date.now(), 20_000) : 0;
  return Math.max(backoff, asked);
}

type RetryStrategyV2 = Extract<NonNullable<S3ClientConfig['retryStrategy']>, { acquireInitialRetryToken: unknown }>;

/**
 * The SDK's retry decisions made by isRetryable: its standard strategy would also retry a skewed clock
 * and spend its backoff on errors that fail the same way every time.
 */
export function retryStrategy(maxAttempts: number): RetryStrategyV2 {
  const token = (count: number, delay: number) => ({ getRetryCount: () => count, getRetryDelay: () => delay });
  return {
    acquireInitialRetryToken: async () => token(0, 0),
    refreshRetryTokenForRetry: async (previous, info) => {
      const retry = previous.getRetryCount() + 1;
      if (retry >= maxAttempts || !isRetryable(info.error)) throw info.error;
      return token(retry, retryDelayMs(retry, info.retryAfterHint));
    },
    recordSuccess: () => undefined,
  };
}
