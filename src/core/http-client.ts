/**
 * One HTTP request with a hard deadline, over node:http/https (https is loaded only for https URLs,
 * and no fetch/undici start-up cost). Used for the health URL and webhooks.
 */
import http from 'node:http';
import { describeError, MizualError } from './errors.js';

export interface HttpAnswer {
  status: number;
  elapsedMs: number;
  /** The server's `Date` header, when it sent one. */
  date?: string;
}

/** Send a request and resolve with the status once the whole answer arrived; rejects after timeoutMs in total. */
export async function requestUrl(
  url: string,
  options: { method?: 'GET' | 'POST'; body?: string; headers?: Record<string, string>; timeoutMs: number },
): Promise<HttpAnswer> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? (await import('node:https')).default : http;
  const started = Date.now();
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string | number> = { 'User-Agent': 'mizual-monitoring', ...options.headers };
  if (body) headers['Content-Length'] = body.length;
  return new Promise((resolve, reject) => {
    // A request can end in several ways (answer, error, timeout, a close mid-body); the first one wins.
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const fail = (err: unknown): void => {
      const code = (err as NodeJS.ErrnoException).code;
      settle(() =>
        reject(
          err instanceof MizualError ? err : new MizualError(code ?? describeError(err), undefined, { cause: err }),
        ),
      );
    };
    let answering = false;
    const req = transport.request(target, { method: options.method ?? 'GET', headers, agent: false });
    const timer = setTimeout(() => {
      const seconds = Math.round(options.timeoutMs / 100) / 10;
      const err = new MizualError(`no ${answering ? 'complete ' : ''}answer within ${seconds} s`);
      fail(err);
      req.destroy(err);
    }, options.timeoutMs);
    req.on('error', fail);
    req.on('response', (res) => {
      answering = true;
      // Headers and part of the body, then a closed connection: 'end' never comes, only 'error'/'close'.
      const cut = (cause?: unknown): void =>
        fail(new MizualError('connection closed before the whole answer arrived', undefined, { cause }));
      res.on('error', cut);
      res.on('close', () => (res.complete ? undefined : cut()));
      res.on('end', () =>
        settle(() => resolve({ status: res.statusCode ?? 0, elapsedMs: Date.now() - started, date: res.headers.date })),
      );
      res.resume();
    });
    req.end(body);
  });
}

/** A URL safe to print: scheme, host and path only (webhook paths and queries often carry tokens). */
export function describeUrl(url: string, withPath = true): string {
  try {
    const u = new URL(url);
    return withPath ? `${u.protocol}//${u.host}${u.pathname}` : `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}
