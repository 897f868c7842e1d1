import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  /** Path and query as received (a fragment is never sent). */
  url: string;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface WebhookReceiver {
  server: Server;
  /** `http://127.0.0.1:<port>/hook` */
  url: string;
  /** Each request's JSON body (its text when it is not JSON), in arrival order. */
  bodies: unknown[];
  /** Each request as received. */
  requests: ReceivedRequest[];
  close: () => void;
}

/** A loopback webhook receiver recording each request and answering `status`; port 0 picks a free one. */
export async function startWebhookReceiver(options: { port?: number; status?: number } = {}): Promise<WebhookReceiver> {
  const bodies: unknown[] = [];
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, text });
      try {
        bodies.push(JSON.parse(text));
      } catch {
        bodies.push(text);
      }
      res.statusCode = options.status ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { server, url, bodies, requests, close: () => server.close() };
}
