// The broker side of src/app/: the broker URL, Celery's priority lists, the RESP client, and the
// direct socket path against a real redis-server (Debian's) on a free loopback port.
import { execa, type ResultPromise } from 'execa';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { collectQueues, parseBrokerUrl, pickContainer, queueChecks, queueKeys } from '../../src/app/broker/broker.js';
import { encodeCommand, parseReply, RespError } from '../../src/app/broker/resp.js';
import { UsageError } from '../../src/core/errors.js';
import type { ContainerSummary } from '../../src/docker/model.js';
import { freePort } from '../helpers/ports.js';

const password = `p@ss:${Math.random().toString(36).slice(2)}`;
let port = 0;
let redis: ResultPromise | undefined;

const cli = (...args: string[]) =>
  execa('redis-cli', ['-p', String(port), '--no-auth-warning', ...args], {
    env: { REDISCLI_AUTH: password },
    reject: false,
  });

before(async () => {
  port = await freePort();
  redis = execa('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--requirepass', password], { reject: false, stdin: 'ignore' }); // prettier-ignore
  for (let i = 0; i < 100 && (await cli('PING')).stdout.trim() !== 'PONG'; i++)
    await new Promise((r) => setTimeout(r, 50));
  // Queue `celery` in database 2: 3 plain, 2 at priority 3, 1 at priority 9; `other` 4 plain.
  await cli('-n', '2', 'RPUSH', 'celery', 'a', 'b', 'c');
  await cli('-n', '2', 'RPUSH', 'celery\x06\x163', 'a', 'b');
  await cli('-n', '2', 'RPUSH', 'celery\x06\x169', 'a');
  await cli('-n', '2', 'RPUSH', 'other', 'a', 'b', 'c', 'd');
});

after(async () => {
  redis?.kill('SIGTERM');
  await redis?.catch(() => undefined);
});

describe('the broker URL', () => {
  it('reads host, port, database and the (decoded) password, and shows none of the credentials', () => {
    const t = parseBrokerUrl('redis://user:p%40ss@redis:6380/3');
    assert.deepEqual(
      [t.host, t.port, t.db, t.username, t.password, t.shown],
      ['redis', 6380, 3, 'user', 'p@ss', 'redis://redis:6380/3'],
    );
    assert.deepEqual([parseBrokerUrl('redis://redis').port, parseBrokerUrl('redis://redis').db], [6379, 0]);
  });
  it('a broker other than Redis is named in one line', () => {
    assert.throws(
      () => parseBrokerUrl('amqp://guest:guest@rabbit:5672//'),
      (e: unknown) =>
        e instanceof UsageError && /only Redis brokers .* not amqp:/.test(e.message) && !/guest/.test(e.message),
    );
  });
  it("a queue is its list and kombu's priority lists 3, 6 and 9", () => {
    assert.deepEqual(queueKeys('celery'), ['celery', 'celery\x06\x163', 'celery\x06\x166', 'celery\x06\x169']);
  });
});

describe('RESP', () => {
  it('encodes binary-safe bulk strings and parses every reply type, waiting for whole replies', () => {
    assert.equal(encodeCommand(['LLEN', 'q\x06\x163']).toString('latin1'), '*2\r\n$4\r\nLLEN\r\n$4\r\nq\x06\x163\r\n');
    const buf = Buffer.from('+OK\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n-ERR no\r\n');
    const replies = [];
    for (let at = 0, r = parseReply(buf, at); r; at = r.next, r = parseReply(buf, at)) replies.push(r.reply);
    assert.deepEqual(replies.slice(0, 4), ['OK', 42, 'abc', null]);
    assert.ok(Array.isArray(replies[4]) && replies[4][1] instanceof RespError);
    assert.equal(parseReply(Buffer.from('$5\r\nab')), null);
    assert.throws(() => parseReply(Buffer.from('HTTP/1.1 400\r\n')), /not a Redis server/);
  });
});

describe('queue lengths over a socket (a real redis-server)', () => {
  it('sums every priority list of each queue, in the URL database, with AUTH', async () => {
    const got = await collectQueues({
      brokerUrl: `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}/2`,
      queues: ['celery', 'other', 'none'],
    });
    assert.deepEqual(got.queues, [
      { queue: 'celery', length: 6 },
      { queue: 'other', length: 4 },
      { queue: 'none', length: 0 },
    ]);
    assert.equal(got.problem, null);
  });
  it('a wrong password: one line naming the broker without any password, lengths null', async () => {
    const got = await collectQueues({ brokerUrl: `redis://:wrong-secret@127.0.0.1:${port}/2`, queues: ['celery'] });
    assert.deepEqual(got.queues, [{ queue: 'celery', length: null }]);
    assert.match(got.problem ?? '', /^broker redis:\/\/127\.0\.0\.1:\d+\/2: Redis said: WRONGPASS/);
    assert.doesNotMatch(got.problem ?? '', /wrong-secret|\n/);
  });
  it('nothing listening: connection refused, and its queue check is UNKNOWN with that line', async () => {
    const closed = await freePort();
    const got = await collectQueues({ brokerUrl: `redis://127.0.0.1:${closed}/0`, queues: ['celery'] });
    assert.equal(got.problem, `broker redis://127.0.0.1:${closed}/0: connection refused at 127.0.0.1:${closed}`);
    const [obs] = queueChecks(got.queues, got.problem, 100);
    assert.deepEqual([obs?.check, obs?.unknown], ['queue:celery', true]);
  });
  it('queue:<queue> warns at the backlog, not below it', () => {
    const at = queueChecks([{ queue: 'q', length: 100 }], null, 100)[0];
    const below = queueChecks([{ queue: 'q', length: 99 }], null, 100)[0];
    assert.deepEqual([at?.failing, below?.failing, at?.severity], [true, false, 'warning']);
  });
});

describe('the container behind a Compose service name', () => {
  const c = (name: string, labels: Record<string, string> = {}, state = 'running'): ContainerSummary =>
    ({ name, id: name, image: 'redis', state, status: '', health: 'none', labels }) as ContainerSummary;
  it('the service label first, then the exact name, then <project>-<service>-<n>; running ones only', () => {
    const labelled = c('whatever', { 'com.docker.compose.service': 'redis' });
    assert.equal(pickContainer([c('app-redis-1'), labelled], 'redis'), labelled);
    assert.equal(pickContainer([c('app-redis-1'), c('redis')], 'redis')?.name, 'redis');
    assert.equal(pickContainer([c('app_redis_1'), c('redisinsight')], 'redis')?.name, 'app_redis_1');
    assert.equal(pickContainer([c('app-redis-1', {}, 'exited')], 'redis'), null);
  });
});
