// A loopback proxy in front of the test S3 server that refuses what Backblaze B2's S3 API refuses:
// the SDK's flexible-checksum headers and aws-chunked (streaming-signed) bodies. Everything else is
// forwarded byte for byte with the Host header kept, so SigV4 signatures still verify upstream.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RejectedRequest {
  method: string;
  path: string;
  /** The offending header, as `name: value`. */
  header: string;
}

export interface B2StrictProxy {
  url: string;
  rejected: RejectedRequest[];
  /** Requests received so far (forwarded or rejected). */
  readonly requests: number;
  /** GET requests of objects seen, per object key (the path after the bucket, without the query). */
  gets: Map<string, number>;
  /** Stop listening and drop open connections (clients then see "connection refused"), as if B2 were down. */
  pause(): Promise<void>;
  /** Listen again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** The first header B2 would refuse, or undefined when the request is acceptable. */
export function findForbiddenHeader(headers: http.IncomingHttpHeaders): string | undefined {
  for (const [name, raw] of Object.entries(headers)) {
    const value = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
    const lower = name.toLowerCase();
    if (
      lower.startsWith('x-amz-checksum-') ||
      lower === 'x-amz-sdk-checksum-algorithm' ||
      lower === 'x-amz-decoded-content-length' ||
      lower === 'x-amz-trailer'
    ) {
      return `${lower}: ${value}`;
    }
    if (lower === 'content-encoding' && /aws-chunked/i.test(value)) return `${lower}: ${value}`;
    if (lower === 'x-amz-content-sha256' && /^STREAMING-/i.test(value)) return `${lower}: ${value}`;
  }
  return undefined;
}

function b2ErrorBody(header: string): string {
  const name = header.split(':')[0] ?? header;
  return (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
    '<Error>\n' +
    '    <Code>InvalidArgument</Code>\n' +
    `    <Message>Unsupported header '${name}' received for this API call.</Message>\n` +
    '</Error>\n'
  );
}

/** The object key a path-style request names: the path after `/<bucket>/`, decoded, without the query. */
export function objectKeyOf(url: string | undefined): string {
  return decodeURIComponent((url ?? '').split('?')[0] ?? '').replace(/^\/[^/]+\/?/, '');
}

/**
 * Forward one request to `target` byte for byte (Host kept, so SigV4 still verifies), the response body
 * through `body` when given. The target being down looks like B2 being down: a dropped connection, not a 502.
 */
export function forwardRequest(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: URL,
  agent: http.Agent,
  body: (up: http.IncomingMessage) => NodeJS.ReadableStream = (up) => up,
): void {
  const upstream = http.request(
    { host: target.hostname, port: target.port || 80, method: req.method, path: req.url, headers: req.headers, agent },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
      body(up).pipe(res);
      up.on('error', () => res.destroy());
    },
  );
  upstream.on('error', () => req.socket.destroy());
  req.on('error', () => upstream.destroy());
  req.pipe(upstream);
}

export interface ProxyOptions {
  /** Fault injection: return an HTTP status to answer a request with that error instead of forwarding it. */
  intercept?: (method: string, path: string) => number | undefined;
}

/** Start the proxy on 127.0.0.1 (a free port) forwarding to `targetUrl` (http only). */
export async function startB2StrictProxy(targetUrl: string, options: ProxyOptions = {}): Promise<B2StrictProxy> {
  const target = new URL(targetUrl);
  const rejected: RejectedRequest[] = [];
  let requests = 0;
  const gets = new Map<string, number>();
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true });

  const server = http.createServer((req, res) => {
    requests++;
    const key = objectKeyOf(req.url);
    if (req.method === 'GET' && key !== '') gets.set(key, (gets.get(key) ?? 0) + 1);
    const offending = findForbiddenHeader(req.headers);
    if (offending !== undefined) {
      rejected.push({ method: req.method ?? '', path: req.url ?? '', header: offending });
      const body = b2ErrorBody(offending);
      // Read the body first so the client is not cut off mid-upload, as a real server would.
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    const injected = options.intercept?.(req.method ?? '', req.url ?? '');
    if (injected !== undefined) {
      const body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>injected</Message></Error>\n';
      req.resume();
      req.on('end', () => {
        res.writeHead(injected, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    forwardRequest(req, res, target, agent);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  const port = await listen(0);
  return {
    url: `http://127.0.0.1:${port}`,
    rejected,
    gets,
    get requests() {
      return requests;
    },
    pause: stopListening,
    resume: async () => {
      await listen(port);
    },
    close: async () => {
      await stopListening();
      agent.destroy();
    },
  };
}
