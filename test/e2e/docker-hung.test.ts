// A Docker engine that accepts connections and never answers (a hung dockerd): the shipper asks it once,
// waits out one timeout, and says so in one line.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-docker-hung-');
after(scratch.cleanup);

describe('a hung Docker engine', () => {
  const socketPath = path.join(scratch.dir, 'docker.sock');
  const requests: string[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  let server: net.Server;

  before(async () => {
    server = net.createServer((socket) => {
      connections++;
      sockets.add(socket);
      // Read the request line and never answer.
      socket.once('data', (data) => requests.push(data.toString('latin1').split('\r\n')[0] ?? ''));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });

  it('mizual-ship-logs asks it once and fails with one line', async () => {
    const result = await runTool('mizual-ship-logs', ['--no-upload'], {
      env: {
        DOCKER_HOST: `unix://${socketPath}`,
        MIZUAL_CONTAINERS: 'backend,celery',
        MIZUAL_LOG_DIR: path.join(scratch.dir, 'logs'),
        MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
        MIZUAL_ALERT_LOG: path.join(scratch.dir, 'alerts.log'),
        MIZUAL_HOLD_DIR: path.join(scratch.dir, 'hold'),
        MIZUAL_HOSTNAME: 'hung-host',
      },
      cwd: scratch.dir,
    });
    assert.equal(result.exitCode, 1, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(
      lines[0] as string,
      /^mizual-ship-logs: Docker engine at unix:\/\/\S+ did not answer \S+ within \d+ ms/,
    );
    assert.equal(connections, 1, `asked once, not again: ${requests.join(' | ')}`);
  });
});
