import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookReceiver {
  server: Server;
  /** `http://127.0.0.1:<port>/hook` */
  url: string;
  /** Each request's JSON body, in arrival order. */
  bodies: unknown[];
  close: () => void;
}

/** A loopback webhook receiver recording each JSON body and answering `status`; port 0 picks a free one. */
export async function startWebhookReceiver(options: { port?: number; status?: number } = {}): Promise<WebhookReceiver> {
  const bodies: unknown[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      res.statusCode = options.status ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { server, url, bodies, close: () => server.close() };
}
