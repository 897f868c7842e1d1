// A unix socket in front of the real Docker engine that forwards every request unchanged and keeps its
// request line: tests count how often a tool asks the engine, and about what.
import http from 'node:http';
import type { Socket } from 'node:net';

export interface DockerCounter {
  /** DOCKER_HOST for the tool under test. */
  host: string;
  /** `GET /containers/json?all=1`, one entry per request, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Start the counting proxy on `socketPath`, forwarding to the engine's own socket. */
export async function startDockerCounter(
  socketPath: string,
  engineSocket = '/var/run/docker.sock',
): Promise<DockerCounter> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const upstream = http.request(
      { socketPath: engineSocket, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    host: `unix://${socketPath}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
