// A loopback proxy in front of the test gateway (or the B2-strict proxy) that injects the faults real
// servers and B2 produce: an S3 error answer (503 every Nth request, permanent 403s), a connection reset
// before or in the middle of the answer, an answer the server produced but the client never got (the
// request took effect upstream), and a slow link. Everything else is forwarded byte for byte with the
// Host header kept, so SigV4 signatures still verify upstream.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FaultRequest {
  /** 1-based count of requests the proxy has received. */
  n: number;
  method: string;
  /** Path and query, e.g. `/bucket/logs/dev/h/...?uploads`. */
  path: string;
}

export type Fault =
  /** Answer with this S3 error instead of forwarding (the request never reaches the gateway). */
  | { kind: 'error'; status: number; code: string }
  /** Drop the connection without answering (the request never reaches the gateway). */
  | { kind: 'reset' }
  /** Forward, let the gateway act on it, then drop the connection before the answer: a lost answer. */
  | { kind: 'lose-answer' }
  /** Forward and send the status line, headers and this many body bytes, then drop the connection. */
  | { kind: 'reset-mid-answer'; afterBytes: number }
  /** Forward, but deliver the answer (and read the request body) at about this many bytes a second. */
  | { kind: 'throttle'; bytesPerSecond: number };

export interface FaultProxy {
  url: string;
  /** Every request seen, with the fault applied to it (if any). */
  log: (FaultRequest & { fault?: Fault['kind'] })[];
  close(): Promise<void>;
}

/** 503 SlowDown-style answer every `n`th request, as B2 documents clients must expect. */
export function everyNth(n: number, fault: Fault): (req: FaultRequest) => Fault | undefined {
  return (req) => (req.n % n === 0 ? fault : undefined);
}

function errorXml(code: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the fault proxy</Message></Error>\n`;
}

/** Pipe `from` into `to` at about `bytesPerSecond`, in small slices. */
function throttled(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, bytesPerSecond: number): void {
  const slice = Math.max(1, Math.floor(bytesPerSecond / 20));
  const queue: Buffer[] = [];
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  const pump = (): void => {
    let budget = slice;
    while (budget > 0 && queue.length > 0) {
      const head = queue[0] as Buffer;
      const piece = head.subarray(0, budget);
      to.write(piece);
      budget -= piece.length;
      if (piece.length === head.length) queue.shift();
      else queue[0] = head.subarray(piece.length);
    }
    if (queue.length === 0 && ended) {
      to.end();
      return;
    }
    timer = setTimeout(pump, 50);
  };
  from.on('data', (chunk: Buffer) => void queue.push(chunk));
  from.on('end', () => void (ended = true));
  from.on('error', () => clearTimeout(timer));
  pump();
}

/** Start the proxy on 127.0.0.1 (a free port) forwarding to `targetUrl` (http only). */
export async function startFaultProxy(
  targetUrl: string,
  choose: (req: FaultRequest) => Fault | undefined,
): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const log: FaultProxy['log'] = [];
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true });

  const server = http.createServer((req, res) => {
    const info: FaultRequest = { n: log.length + 1, method: req.method ?? '', path: req.url ?? '' };
    const fault = choose(info);
    log.push({ ...info, fault: fault?.kind });
    if (fault?.kind === 'error') {
      const body = errorXml(fault.code);
      // Read the body first so the client is not cut off mid-upload, as a real server would.
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port || 80,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (up) => {
        if (fault?.kind === 'lose-answer') {
          up.resume();
          up.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
        if (fault?.kind === 'reset-mid-answer') {
          let sent = 0;
          up.on('data', (chunk: Buffer) => {
            if (sent >= fault.afterBytes) return;
            const piece = chunk.subarray(0, fault.afterBytes - sent);
            sent += piece.length;
            res.write(piece, () => {
              if (sent >= fault.afterBytes) req.socket.destroy();
            });
          });
          up.on('end', () => req.socket.destroy());
          return;
        }
        if (fault?.kind === 'throttle') throttled(up, res, fault.bytesPerSecond);
        else up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.on('error', () => upstream.destroy());
    if (fault?.kind === 'throttle') throttled(req, upstream, fault.bytesPerSecond);
    else req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
