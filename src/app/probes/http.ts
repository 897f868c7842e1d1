/**
 * The HTTP(S) prober: a GET with one hard deadline for the whole exchange, redirects followed (at
 * most MAX_REDIRECTS, a loop is down), timed to the first byte of the final answer and to its end.
 * For https the TLS handshake is done first on a socket of our own, so the certificates' expiry is
 * read even when they are not trusted, and no request (nor the URL's credentials) is ever sent to a
 * server whose certificate failed verification. Up means: a status in the probe's ranges (2xx
 * unless told) and, when asked, the text in the body.
 */
import http from 'node:http';
import net from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';

export const MAX_REDIRECTS = 5;
/** The part of a body searched for `contains=` at most: a probe never reads an endless page. */
const MAX_BODY_SEARCHED = 4 * 1024 * 1024;

/** What one probe of any protocol saw (blackbox_exporter's common result). */
export interface ProbeResult {
  up: boolean;
  status: number | null;
  /** Whole exchange, redirects and connects included. */
  seconds: number | null;
  /** Until the final answer's headers arrived. */
  ttfbSeconds: number | null;
  /** The earliest notAfter (epoch ms) of every certificate in the chains seen, https only. */
  certValidToMs: number | null;
  /** Redirects followed. */
  redirects: number;
  /** Why it is down, one line. */
  error?: string;
}

/** Where to connect instead of the URL's own host and port (a Compose name resolved beforehand). */
export interface ProbeConnect {
  host: string;
  port: number;
  /** The TLS server name; the URL's host when absent. */
  servername?: string;
}

export interface ProbeHttpOptions {
  timeoutMs: number;
  /** Inclusive status ranges that mean up; default 200-299. */
  status?: readonly (readonly [number, number])[];
  /** Text the final answer's body must hold. */
  contains?: string | null;
  /** For the URL's own origin only; a redirect to another origin connects where its host says. */
  connect?: ProbeConnect;
}

const DEFAULT_STATUS: readonly (readonly [number, number])[] = [[200, 299]];
const round3 = (ms: number): number => Math.round(ms) / 1000;

interface Hop {
  status: number;
  location: string | null;
  ttfbMs: number;
  found: boolean | null;
}

/** GET `url` following redirects, within one deadline; up per `options`. Never throws. */
export async function probeHttp(url: string, options: ProbeHttpOptions): Promise<ProbeResult> {
  const started = performance.now();
  const deadline = started + options.timeoutMs;
  const origin = new URL(url).origin;
  const needle = options.contains ? Buffer.from(options.contains) : null;
  const seen = new Set<string>();
  let certValidToMs: number | null = null;
  let target = new URL(url);
  let redirects = 0;
  const down = (error: string, status: number | null = null, ttfbMs: number | null = null): ProbeResult => ({
    up: false,
    status,
    seconds: null,
    ttfbSeconds: ttfbMs === null ? null : round3(ttfbMs - started),
    certValidToMs,
    redirects,
    error,
  });
  for (;;) {
    seen.add(target.href);
    const connect = target.origin === origin ? options.connect : undefined;
    // Credentials go to the URL's own origin only, never to where it redirects.
    const withAuth = target.origin === origin;
    let hop: Hop;
    try {
      hop = await exchange(target, { connect, withAuth, deadline, timeoutMs: options.timeoutMs, needle }, (ms) => {
        certValidToMs = certValidToMs === null ? ms : Math.min(certValidToMs, ms);
      });
    } catch (err) {
      return down((err as Error).message);
    }
    if (hop.status >= 300 && hop.status < 400 && hop.location !== null) {
      let next: URL;
      try {
        next = new URL(hop.location, target);
      } catch {
        return down(`HTTP ${hop.status} to a bad Location`, hop.status, hop.ttfbMs);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        return down(`HTTP ${hop.status} to a ${next.protocol} URL`, hop.status, hop.ttfbMs);
      }
      if (seen.has(next.href)) return down(`redirect loop after ${redirects + 1} redirects`, hop.status, hop.ttfbMs);
      if (redirects === MAX_REDIRECTS) return down(`more than ${MAX_REDIRECTS} redirects`, hop.status, hop.ttfbMs);
      redirects++;
      target = next;
      continue;
    }
    const ranges = options.status ?? DEFAULT_STATUS;
    const statusOk = ranges.some(([lo, hi]) => hop.status >= lo && hop.status <= hi);
    const error = !statusOk
      ? `HTTP ${hop.status}`
      : hop.found === false
        ? `HTTP ${hop.status} without '${options.contains}'`
        : undefined;
    return {
      up: error === undefined,
      status: hop.status,
      seconds: round3(performance.now() - started),
      ttfbSeconds: round3(hop.ttfbMs - started),
      certValidToMs,
      redirects,
      ...(error ? { error } : {}),
    };
  }
}

interface ExchangeOptions {
  connect: ProbeConnect | undefined;
  withAuth: boolean;
  deadline: number;
  timeoutMs: number;
  needle: Buffer | null;
}

/** One request and its whole answer; rejects with a one-line reason. */
async function exchange(target: URL, o: ExchangeOptions, onCert: (validToMs: number) => void): Promise<Hop> {
  const https = target.protocol === 'https:';
  const urlHost = target.hostname.replace(/^\[|\]$/g, '');
  const host = o.connect?.host ?? urlHost;
  const port = o.connect?.port ?? Number(target.port || (https ? 443 : 80));
  const servername = o.connect?.servername ?? urlHost;
  const tls = https ? await import('node:tls') : null;
  return new Promise<Hop>((resolve, reject) => {
    let settled = false;
    let socket: net.Socket | null = null;
    let req: http.ClientRequest | null = null;
    const end = (): void => {
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      socket?.destroy();
    };
    const fail = (error: string): void => {
      if (settled) return;
      end();
      reject(new Error(error));
    };
    // Once the headers are in, any error (ECONNRESET, aborted) is the answer being cut short.
    let answering = false;
    const cut = 'connection closed before the whole answer arrived';
    const failErr = (err: NodeJS.ErrnoException): void => fail(answering ? cut : (err.code ?? err.message));
    const timer = setTimeout(
      () => fail(`no answer within ${o.timeoutMs / 1000} s`),
      Math.max(0, o.deadline - performance.now()),
    );
    const request = (): void => {
      const auth =
        o.withAuth && target.username
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
        answering = true;
        const ttfbMs = performance.now();
        const status = res.statusCode ?? 0;
        const location = typeof res.headers.location === 'string' ? res.headers.location : null;
        const search = o.needle ? new BodySearch(o.needle) : null;
        res.on('error', failErr);
        res.on('close', () => (res.complete ? undefined : fail(cut)));
        res.on('data', (chunk: Buffer) => search?.add(chunk));
        res.on('end', () => {
          if (settled) return;
          end();
          resolve({ status, location, ttfbMs, found: search ? search.found : null });
        });
      });
      req.end();
    };
    if (tls) {
      const secure: TLSSocket = tls.connect({
        host,
        port,
        ...(net.isIP(servername) ? {} : { servername }),
        // Verified below by hand: an untrusted certificate still has an expiry worth reporting.
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      });
      socket = secure;
      secure.on('error', failErr);
      secure.once('secureConnect', () => {
        const earliest = earliestExpiry(secure.getPeerCertificate(true));
        if (earliest !== null) onCert(earliest);
        if (!secure.authorized) {
          const why = secure.authorizationError;
          return fail(`TLS certificate not trusted: ${why instanceof Error ? why.message : String(why)}`);
        }
        request();
      });
    } else {
      socket = net.connect({ host, port });
      socket.on('error', failErr);
      socket.once('connect', request);
    }
  });
}

/** The earliest notAfter along the peer's chain (the leaf, the intermediates, the root it ends in). */
export function earliestExpiry(leaf: PeerCertificate & { issuerCertificate?: PeerCertificate }): number | null {
  let earliest: number | null = null;
  const seen = new Set<string>();
  let cert: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = leaf;
  while (cert && cert.fingerprint256 && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    const validTo = Date.parse(cert.valid_to ?? '');
    if (Number.isFinite(validTo)) earliest = earliest === null ? validTo : Math.min(earliest, validTo);
    cert = cert.issuerCertificate;
  }
  return earliest;
}

/** Whether a byte string occurs in a stream of chunks, keeping only its length in memory. */
class BodySearch {
  found = false;
  private tail = Buffer.alloc(0);
  private searched = 0;
  constructor(private readonly needle: Buffer) {}
  add(chunk: Buffer): void {
    if (this.found || this.searched > MAX_BODY_SEARCHED) return;
    this.searched += chunk.length;
    const joined = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    if (joined.indexOf(this.needle) !== -1) {
      this.found = true;
      return;
    }
    this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - this.needle.length + 1)));
  }
}
