// A loopback proxy that makes the local S3 gateway look like B2 seen from a laptop: every request
// waits `latencyMs` before it is forwarded, and each connection's response bodies are paced to at
// most `bytesPerSecond`. Forwarded byte for byte (Host kept), so SigV4 signatures still verify.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { forwardRequest, objectKeyOf } from './b2-strict-proxy.js';

export interface ThrottleOptions {
  /** Added before each request is forwarded (default 50 ms). */
  latencyMs?: number;
  /** Per connection, response bytes per second (default 8 MB/s). */
  bytesPerSecond?: number;
}

export interface ThrottleProxy {
  url: string;
  /** GET requests of objects, per key (the path after the bucket, without the query). */
  gets: Map<string, number>;
  close(): Promise<void>;
}

const PIECE = 64 * 1024;

/** Paces the bytes written through it against its connection's schedule (shared by the requests of one connection). */
class Pacer extends Transform {
  constructor(
    private readonly schedule: { next: number },
    private readonly bytesPerSecond: number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    void (async () => {
      for (let at = 0; at < chunk.length; at += PIECE) {
        const piece = chunk.subarray(at, at + PIECE);
        const now = performance.now();
        this.schedule.next = Math.max(this.schedule.next, now) + (piece.length * 1000) / this.bytesPerSecond;
        this.push(piece);
        const wait = this.schedule.next - performance.now();
        if (wait > 0) await sleep(wait);
      }
    })().then(() => done(), done);
  }
}

/** Start the proxy on 127.0.0.1 (a free port) in front of `targetUrl` (http only). */
export async function startThrottleProxy(targetUrl: string, options: ThrottleOptions = {}): Promise<ThrottleProxy> {
  const target = new URL(targetUrl);
  const latencyMs = options.latencyMs ?? 50;
  const bytesPerSecond = options.bytesPerSecond ?? 8_000_000;
  const gets = new Map<string, number>();
  const schedules = new WeakMap<Socket, { next: number }>();
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true });

  const server = http.createServer((req, res) => {
    const key = objectKeyOf(req.url);
    if (req.method === 'GET' && key !== '') gets.set(key, (gets.get(key) ?? 0) + 1);
    let schedule = schedules.get(req.socket);
    if (!schedule) schedules.set(req.socket, (schedule = { next: 0 }));
    const pacing = schedule;
    req.pause();
    setTimeout(() => {
      forwardRequest(req, res, target, agent, (up) => up.pipe(new Pacer(pacing, bytesPerSecond)));
      req.resume();
    }, latencyMs);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    gets,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
