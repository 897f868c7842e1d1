import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComposeHostError, findComposeHost } from '../../src/docker/compose-hosts.js';
import type { ContainerSummary } from '../../src/docker/model.js';
import { chooseWatched, rememberWatched, type Candidate } from '../../src/docker/watched.js';

const compose = (project: string, service: string): Record<string, string> => ({
  'com.docker.compose.project': project,
  'com.docker.compose.service': service,
});
const c = (name: string, restartPolicy: string, labels: Record<string, string> = {}, state = 'running'): Candidate => ({
  name,
  id: `${name}-0123456789abcdef`,
  state: state as Candidate['state'],
  restartPolicy,
  labels,
});

describe('chooseWatched: what is watched without MIZUAL_CONTAINERS', () => {
  const stack = [
    c('mizual-backend', 'unless-stopped', compose('app', 'backend')),
    c('mizual-celery', 'unless-stopped', compose('app', 'celery')),
    c('app_redis_1', 'unless-stopped', compose('app', 'redis')),
    c('app_migration_1', 'no', compose('app', 'migration'), 'exited'),
    c('stray', 'no', {}, 'exited'),
    c('other_migration_1', 'no', compose('other', 'migration'), 'exited'),
  ];

  it('takes keep-running containers, the defaults found, and the one-shots of those projects', () => {
    const w = chooseWatched(stack);
    assert.deepEqual(
      w.containers.map((s) => [s.short, s.name, s.origin]),
      [
        ['backend', 'mizual-backend', 'default'],
        ['celery', 'mizual-celery', 'default'],
        ['migration', 'app_migration_1', 'one-shot'],
        ['redis', 'app_redis_1', 'discovered'],
      ],
    );
    assert.deepEqual(w.defaultsNotFound, ['mizual-registry', 'mizual-watchtower']);
  });

  it('names a scaled service and a service two projects share by container name', () => {
    const w = chooseWatched([
      c('a_worker_1', 'always', compose('a', 'worker')),
      c('a_worker_2', 'always', compose('a', 'worker')),
      c('a_redis_1', 'always', compose('a', 'redis')),
      c('b-redis-1', 'on-failure', compose('b', 'redis')),
      c('b-web-1', 'on-failure', compose('b', 'web')),
    ]);
    assert.deepEqual(w.containers.map((s) => s.short).sort(), [
      'a_redis_1',
      'a_worker_1',
      'a_worker_2',
      'b-redis-1',
      'web',
    ]);
  });

  it('keeps a container seen before and gone, unless a replacement of its service is there', () => {
    const remembered = rememberWatched(chooseWatched(stack).containers);
    assert.equal(remembered.migration, undefined, 'one-shots are not remembered');
    const gone = chooseWatched(
      stack.filter((s) => s.name !== 'app_redis_1'),
      remembered,
    );
    assert.deepEqual(
      gone.containers.filter((s) => s.origin === 'remembered').map((s) => [s.short, s.name]),
      [['redis', 'app_redis_1']],
    );
    // Compose v2 renamed it, watchtower replaced it: same project and service, the same container.
    const replaced = chooseWatched(
      [...stack.filter((s) => s.name !== 'app_redis_1'), c('app-redis-1', 'always', compose('app', 'redis'))],
      remembered,
    );
    assert.deepEqual(
      replaced.containers.filter((s) => s.service === 'redis').map((s) => [s.short, s.name, s.origin]),
      [['redis', 'app-redis-1', 'discovered']],
    );
  });
});

describe('findComposeHost: where a Compose name in a URL is reached', () => {
  const summary = (
    name: string,
    labels: Record<string, string>,
    extra: Partial<ContainerSummary> = {},
  ): ContainerSummary => ({
    name,
    id: name,
    image: 'x',
    state: 'running',
    status: 'Up',
    health: 'none',
    labels,
    ports: [],
    networks: [{ network: 'app_default', ip: '172.18.0.5' }],
    ...extra,
  });

  it('dials a published port first, else the address on its network', () => {
    const list = [
      summary('app_db_1', compose('app', 'db')),
      summary('mizual-backend', compose('app', 'backend'), {
        ports: [{ privatePort: 8000, publicPort: 8080, ip: '0.0.0.0', type: 'tcp' }],
      }),
    ];
    assert.deepEqual((({ host, port }) => ({ host, port }))(findComposeHost('db', 5432, list)!), {
      host: '172.18.0.5',
      port: 5432,
    });
    assert.deepEqual((({ host, port }) => ({ host, port }))(findComposeHost('backend', 8000, list)!), {
      host: '127.0.0.1',
      port: 8080,
    });
    assert.equal(findComposeHost('mizual-backend', 8000, list)?.container.name, 'mizual-backend');
    assert.equal(findComposeHost('nothing', 1, list), null);
  });

  it('prefers the watched project, and never picks silently between two', () => {
    const list = [summary('a_redis_1', compose('a', 'redis')), summary('b_redis_1', compose('b', 'redis'))];
    assert.equal(findComposeHost('redis', 6379, list, ['b'])?.container.name, 'b_redis_1');
    assert.throws(() => findComposeHost('redis', 6379, list), ComposeHostError);
    assert.throws(() => findComposeHost('redis', 6379, list), /a_redis_1 \(project a\), b_redis_1 \(project b\)/);
  });

  it('passes over stopped containers', () => {
    assert.equal(findComposeHost('db', 5432, [summary('app_db_1', compose('app', 'db'), { state: 'exited' })]), null);
  });
});
