/**
 * The HTTP(S) prober: one GET with a hard deadline, timed to the first byte of the answer and to its
 * end. For https the TLS handshake is done first on a socket of our own, so the certificate's expiry
 * is read even when it is not trusted, and no request (nor the URL's credentials) is ever sent to a
 * server whose certificate failed verification.
 */
import http from 'node:http';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { DialFn } from '../../docker/compose-hosts.js';

/** What one probe of any protocol saw (blackbox_exporter's common result). */
export interface ProbeResult {
  up: boolean;
  status: number | null;
  /** Whole exchange, connect included. */
  seconds: number | null;
  /** Until the answer's headers arrived. */
  ttfbSeconds: number | null;
  /** The peer certificate's notAfter (epoch ms), https only. */
  certValidToMs: number | null;
  /** Why it is down, one line. */
  error?: string;
}

const round3 = (ms: number): number => Math.round(ms) / 1000;

/** GET `url`; up when it answers 2xx or 3xx (redirects are not followed) within timeoutMs over a trusted connection. */
export async function probeHttp(url: string, timeoutMs: number, dial?: DialFn): Promise<ProbeResult> {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || (https ? 443 : 80));
  const started = performance.now();
  // A Compose name is dialled at its container; the certificate is still checked against the URL's host.
  let to: { host: string; port: number };
  try {
    to = dial ? await dial(host, port) : { host, port };
  } catch (err) {
    return {
      up: false,
      status: null,
      seconds: null,
      ttfbSeconds: null,
      certValidToMs: null,
      error: String((err as Error).message),
    };
  }
  const tls = https ? await import('node:tls') : null;
  let certValidToMs: number | null = null;
  let ttfbSeconds: number | null = null;
  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let socket: net.Socket | null = null;
    let req: http.ClientRequest | null = null;
    const finish = (result: Omit<ProbeResult, 'certValidToMs' | 'ttfbSeconds'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      socket?.destroy();
      resolve({ ...result, ttfbSeconds, certValidToMs });
    };
    const fail = (error: string): void => finish({ up: false, status: null, seconds: null, error });
    const failErr = (err: NodeJS.ErrnoException): void => fail(err.code ?? err.message);
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs / 1000} s`), timeoutMs);
    const request = (): void => {
      const auth = target.username
        ? `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`
        : undefined;
      req = http.request({
        host,
        port,
        method: 'GET',
        path: `${target.pathname}${target.search}`,
        headers: { Host: target.host, 'User-Agent': 'mizual-monitoring', Accept: '*/*' },
        auth,
        createConnection: () => socket as net.Socket,
      });
      req.on('error', failErr);
      req.on('response', (res) => {
        ttfbSeconds = round3(performance.now() - started);
        const status = res.statusCode ?? 0;
        res.on('error', failErr);
        res.on('close', () => (res.complete ? undefined : fail('connection closed before the whole answer arrived')));
        res.on('end', () => {
          const up = status >= 200 && status < 400;
          const seconds = round3(performance.now() - started);
          finish({ up, status, seconds, ...(up ? {} : { error: `HTTP ${status}` }) });
        });
        res.resume();
      });
      req.end();
    };
    if (tls) {
      const secure: TLSSocket = tls.connect({
        host: to.host,
        port: to.port,
        ...(net.isIP(host) ? {} : { servername: host }),
        // Verified below by hand: an untrusted certificate still has an expiry worth reporting.
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      });
      socket = secure;
      secure.on('error', failErr);
      secure.once('secureConnect', () => {
        const validTo = Date.parse(secure.getPeerCertificate().valid_to ?? '');
        certValidToMs = Number.isFinite(validTo) ? validTo : null;
        if (!secure.authorized) {
          const why = secure.authorizationError;
          return fail(`TLS certificate not trusted: ${why instanceof Error ? why.message : String(why)}`);
        }
        request();
      });
    } else {
      socket = net.connect({ host: to.host, port: to.port });
      socket.on('error', failErr);
      socket.once('connect', request);
    }
  });
}
