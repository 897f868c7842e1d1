import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { MizualError } from '../../src/core/errors.js';
import { describeUrl, requestUrl, type HttpAnswer } from '../../src/core/http-client.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
after(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});

/** Listen on a free loopback port and return the base URL; every connection is destroyed after the file. */
async function listen(server: Server): Promise<string> {
  servers.push(server);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw TCP server that reads the request, then runs `answer` on the socket (for answers node:http would not send). */
function rawServer(answer: (socket: Socket) => void): Promise<string> {
  return listen(createNetServer((socket) => socket.once('data', () => answer(socket))));
}

/** The timers Node is keeping alive right now (a leaked request timer shows up here). */
function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** Fail (instead of hanging the file) when the promise settles neither way within ms. */
async function settled<T>(promise: Promise<T>, ms = 5_000): Promise<{ value?: T; error?: unknown }> {
  let guard: NodeJS.Timeout | undefined;
  const unsettled = new Promise<never>((_, reject) => {
    guard = setTimeout(() => reject(new Error(`requestUrl neither resolved nor rejected within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      unsettled,
    ]);
  } finally {
    clearTimeout(guard);
  }
}

/** Expect a rejection with a MizualError whose message matches, and no timer left behind. */
async function expectFailure(promise: Promise<HttpAnswer>, message: RegExp, timersBefore: number): Promise<void> {
  const outcome = await settled(promise);
  assert.ok('error' in outcome && outcome.error !== undefined, `expected a rejection, got ${JSON.stringify(outcome)}`);
  assert.ok(outcome.error instanceof MizualError, `expected a MizualError, got ${String(outcome.error)}`);
  assert.match(outcome.error.message, message);
  assert.equal(activeTimers(), timersBefore, 'the deadline timer is cleared once the request settles');
}

describe('requestUrl', () => {
  it('resolves with the status and the elapsed time of a 200 and of a 500 (an HTTP error is an answer)', async () => {
    const base = await listen(
      createHttpServer((req, res) => {
        setTimeout(() => {
          res.statusCode = req.url === '/fail' ? 500 : 200;
          res.end('body that is read to the end');
        }, 60);
      }),
    );
    const timers = activeTimers();
    const ok = await requestUrl(`${base}/ok`, { timeoutMs: 5_000 });
    assert.equal(ok.status, 200);
    assert.ok(ok.elapsedMs >= 50 && ok.elapsedMs < 5_000, `elapsedMs ${ok.elapsedMs} covers the 60 ms wait`);
    const failed = await requestUrl(`${base}/fail`, { timeoutMs: 5_000 });
    assert.equal(failed.status, 500);
    assert.ok(failed.elapsedMs >= 50, `elapsedMs ${failed.elapsedMs}`);
    assert.equal(activeTimers(), timers, 'no deadline timer is left after a complete answer');
  });

  it('sends a POST body with its Content-Length, our User-Agent and the given headers', async () => {
    const seen: { method?: string; headers?: IncomingHttpHeaders; body?: string }[] = [];
    const base = await listen(
      createHttpServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (body += chunk));
        req.on('end', () => {
          seen.push({ method: req.method, headers: req.headers, body });
          res.statusCode = 204;
          res.end();
        });
      }),
    );
    const body = JSON.stringify({ text: 'disk / 93% used — ünïcode counts in bytes' });
    const answer = await requestUrl(`${base}/hook`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json' },
      timeoutMs: 5_000,
    });
    assert.equal(answer.status, 204);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.method, 'POST');
    assert.equal(seen[0]?.body, body);
    assert.equal(seen[0]?.headers?.['content-length'], String(Buffer.byteLength(body)));
    assert.notEqual(Buffer.byteLength(body), body.length, 'the body has multi-byte characters');
    assert.equal(seen[0]?.headers?.['content-type'], 'application/json');
    assert.equal(seen[0]?.headers?.['user-agent'], 'mizual-monitoring');
  });

  it('gives up after timeoutMs on a server that never answers', async () => {
    const base = await rawServer(() => {
      // Read the request and say nothing.
    });
    const timers = activeTimers();
    const started = Date.now();
    await expectFailure(requestUrl(base, { timeoutMs: 300 }), /^no answer within 0\.3 s$/, timers);
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 3_000, `gave up after ${took} ms`);
  });

  it('gives up after timeoutMs in total on a server that trickles its answer', async () => {
    const base = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n');
      // unref: only the client's own timers may count in activeTimers().
      const drip = setInterval(() => socket.write('x'), 50).unref();
      socket.on('close', () => clearInterval(drip));
    });
    const timers = activeTimers();
    const started = Date.now();
    await expectFailure(requestUrl(base, { timeoutMs: 400 }), /^no complete answer within 0\.4 s$/, timers);
    const took = Date.now() - started;
    assert.ok(
      took >= 350 && took < 3_000,
      `a byte every 50 ms does not extend the deadline (gave up after ${took} ms)`,
    );
  });

  it('reports a refused connection by its code', async () => {
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const timers = activeTimers();
    await expectFailure(requestUrl(`http://127.0.0.1:${port}/`, { timeoutMs: 5_000 }), /^ECONNREFUSED$/, timers);
  });

  it('rejects when the server closes the connection after the headers, before the whole body', async () => {
    const base = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nx', () => socket.destroy());
    });
    const timers = activeTimers();
    const started = Date.now();
    await expectFailure(
      requestUrl(base, { timeoutMs: 10_000 }),
      /^connection closed before the whole answer arrived$/,
      timers,
    );
    assert.ok(Date.now() - started < 5_000, 'settles on the close, not on the deadline');
  });

  it('rejects when the server closes the connection before any answer', async () => {
    const base = await rawServer((socket) => socket.destroy());
    const timers = activeTimers();
    await expectFailure(requestUrl(base, { timeoutMs: 10_000 }), /^ECONNRESET$|socket hang up/, timers);
  });
});

describe('describeUrl', () => {
  it('keeps scheme, host and path, and drops the query and credentials', () => {
    assert.equal(
      describeUrl('https://user:secret@example.com:8443/health/check?token=abc#frag'),
      'https://example.com:8443/health/check',
    );
  });

  it('drops the path too when asked (webhook paths carry tokens)', () => {
    assert.equal(describeUrl('https://hooks.slack.com/services/T000/B000/XXXX?x=1', false), 'https://hooks.slack.com');
  });

  it('says so instead of echoing an invalid URL', () => {
    assert.equal(describeUrl('not a url with a token'), '(invalid URL)');
  });
});
