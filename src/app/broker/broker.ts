/**
 * Celery's queues in its Redis broker: the length of each queue, every priority list summed.
 *
 * The broker URL names a Compose service (`redis://redis:6379/0`) the host cannot resolve, so the
 * container behind that name is found through the Engine API and asked with `redis-cli` inside it
 * (argv only; the password goes in the exec's REDISCLI_AUTH, never in argv or output). A host that
 * is not a container (an address, a real DNS name) is asked directly over a socket in RESP.
 */
import net from 'node:net';
import type { Observation } from '../../core/observation.js';
import type { QueueFigure } from '../model.js';
import { runCommands, RespError, type RespReply } from './resp.js';
import { describeError, UsageError } from '../../core/errors.js';
import type { Exposition } from '../../core/exposition.js';
import { createDockerClient } from '../../docker/client.js';
import type { ContainerSummary } from '../../docker/model.js';
import { listedIn, type Snapshot } from '../../docker/snapshot.js';
import type { DialFn } from '../../docker/compose-hosts.js';

export const DEFAULT_QUEUES = 'celery';
export const DEFAULT_QUEUE_BACKLOG = 100;
const BROKER_TIMEOUT_MS = 5_000;
/** kombu's Redis transport keeps priorities 3, 6 and 9 in `<queue>\x06\x16<n>`; 0 is the queue itself. */
const PRIORITY_SEPARATOR = '\x06\x16';
const PRIORITY_STEPS = ['3', '6', '9'];
const LLEN_SCRIPT = "local n = {} for i, k in ipairs(KEYS) do n[i] = redis.call('LLEN', k) end return n";

export interface BrokerTarget {
  /** The URL safe to print: no credentials. */
  shown: string;
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username: string | null;
  password: string | null;
}

/** Parse `redis://[user][:password]@host[:port][/db]` (or rediss://); anything else is a usage error naming the variable. */
export function parseBrokerUrl(value: string, variable = 'CELERY_BROKER_URL'): BrokerTarget {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${variable} is not a URL`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`${variable}: only Redis brokers (redis://, rediss://) are supported, not ${url.protocol}//`);
  }
  const db = url.pathname.replace(/^\//, '') || url.searchParams.get('db') || '0';
  if (!/^\d+$/.test(db)) throw new UsageError(`${variable}: the database must be a number`);
  const port = url.port ? Number(url.port) : 6379;
  const host = url.hostname.replace(/^\[|\]$/g, '') || 'localhost';
  return {
    shown: `${url.protocol}//${url.host}/${db}`,
    host,
    port,
    db: Number(db),
    tls: url.protocol === 'rediss:',
    username: url.username ? decodeURIComponent(url.username) : null,
    password: url.password ? decodeURIComponent(url.password) : null,
  };
}

/** Queue names from MIZUAL_CELERY_QUEUES (default `celery`). */
export function parseQueues(value: string | undefined): string[] {
  const names = (value ?? DEFAULT_QUEUES)
    .split(',')
    .map((q) => q.trim())
    .filter(Boolean);
  if (names.length === 0) throw new UsageError('MIZUAL_CELERY_QUEUES is empty');
  return [...new Set(names)];
}

/** The Redis lists that hold one queue: the queue itself and its priority lists. */
export function queueKeys(queue: string): string[] {
  return [queue, ...PRIORITY_STEPS.map((step) => `${queue}${PRIORITY_SEPARATOR}${step}`)];
}

export interface QueueCollection {
  queues: QueueFigure[];
  /** One line (no password) when the broker could not be asked; the lengths are then null. */
  problem: string | null;
  /** How it was asked: `container <name>` or `<host>:<port>`. */
  via: string | null;
}

export interface QueueOptions {
  brokerUrl: string;
  queues: string[];
  dockerHost?: string;
  timeoutMs?: number;
  /** This run's look at the engine, when there is one: its list stands for listing again. */
  snapshot?: Promise<Snapshot>;
  /** The watched containers' names: the broker's Compose service is looked up in their projects. */
  watched?: readonly string[];
  /** Where to connect for the URL's host (a Compose name: its container's address, src/docker/compose-hosts.ts). */
  dial?: DialFn;
}

/** Ask the broker the length of each queue; never throws (a failure is the collection's problem). */
export async function collectQueues(options: QueueOptions): Promise<QueueCollection> {
  const target = parseBrokerUrl(options.brokerUrl);
  const timeoutMs = options.timeoutMs ?? BROKER_TIMEOUT_MS;
  const keys = options.queues.flatMap(queueKeys);
  const unknown = options.queues.map((queue) => ({ queue, length: null }));
  const sum = (lengths: number[]): QueueFigure[] =>
    options.queues.map((queue, i) => ({
      queue,
      length: lengths.slice(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0),
    }));
  // No password, and Celery's \x06\x16 key bytes (echoed in a timed-out command) shown as escapes.
  const hide = (text: string): string =>
    (target.password ? text.split(target.password).join('***') : text).replace(
      /[\x00-\x1f]/g,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    );
  let viaDocker: string | null = null;
  let dockerNote = '';
  if (options.dial) {
    let through = '';
    try {
      const to = await options.dial(target.host, target.port);
      if (to.container) {
        through = ` (reached through container ${to.container})`;
        // TLS (rediss://) still verifies the URL's own host name.
        const lengths = await lengthsOverSocket(
          { ...target, host: to.host, port: to.port },
          keys,
          timeoutMs,
          target.host,
        );
        return { queues: sum(lengths), problem: null, via: `container ${to.container}` };
      }
    } catch (err) {
      return { queues: unknown, problem: hide(`broker ${target.shown}${through}: ${describeError(err)}`), via: null };
    }
  }

  if (net.isIP(target.host) === 0 && target.host !== 'localhost') {
    try {
      const client = createDockerClient({ host: options.dockerHost, timeoutMs });
      try {
        const list = options.snapshot ? listedIn(await options.snapshot) : await client.listContainers();
        const found = findBrokerContainer(list, target.host, options.watched);
        if (found.ambiguous)
          return { queues: unknown, problem: hide(`broker ${target.shown}: ${found.ambiguous}`), via: null };
        const container = found.container;
        if (container) {
          viaDocker = container.name;
          const lengths = await lengthsInContainer(client, container.name, target, keys, timeoutMs);
          return { queues: sum(lengths), problem: null, via: `container ${container.name}` };
        }
        dockerNote = `nor is it a running container of that Compose service`;
      } finally {
        client.close();
      }
    } catch (err) {
      const where = viaDocker ? ` (asked in container ${viaDocker})` : '';
      if (viaDocker)
        return { queues: unknown, problem: hide(`broker ${target.shown}${where}: ${describeError(err)}`), via: null };
      dockerNote = describeError(err);
    }
  }
  try {
    const lengths = await lengthsOverSocket(target, keys, timeoutMs);
    return { queues: sum(lengths), problem: null, via: `${target.host}:${target.port}` };
  } catch (err) {
    const note = dockerNote ? ` (${dockerNote})` : '';
    return {
      queues: unknown,
      problem: hide(`broker ${target.shown}: ${describeError(err)}${note}`),
      via: null,
    };
  }
}

/** The container behind a broker host name, or why there is no single one. */
export interface BrokerContainer {
  container: ContainerSummary | null;
  /** Set when more than one container could be meant: one line naming them (nothing is picked). */
  ambiguous: string | null;
}

/**
 * The container a Compose service name stands for, looked up in the Compose projects of the watched
 * containers (the app's own network, where the name resolves): the service there, else a container of
 * that name, else (no watched container in a project) the service in any project, else a container
 * named `<project>-<name>-<n>`. Two candidates at the step that finds any are never a silent pick.
 */
export function findBrokerContainer(
  list: readonly ContainerSummary[],
  host: string,
  watched: readonly string[] = [],
): BrokerContainer {
  const running = list.filter((c) => c.state === 'running').sort((a, b) => a.name.localeCompare(b.name));
  const project = (c: ContainerSummary): string | undefined => c.labels['com.docker.compose.project'];
  const names = new Set(watched);
  const projects = new Set(running.filter((c) => names.has(c.name)).flatMap((c) => project(c) ?? []));
  const service = running.filter((c) => c.labels['com.docker.compose.service'] === host);
  const compose = new RegExp(`^.+[-_]${host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[-_]\\d+$`);
  const steps: [ContainerSummary[], string][] = [
    [service.filter((c) => projects.has(project(c) ?? '')), `of the Compose service ${host} in the watched containers' project`],
    [running.filter((c) => c.name === host), `named ${host}`],
    [projects.size === 0 ? service : [], `of the Compose service ${host}`],
    [projects.size === 0 ? running.filter((c) => compose.test(c.name)) : [], `named like <project>-${host}-<n>`],
  ]; // prettier-ignore
  for (const [found, what] of steps) {
    if (found.length === 1) return { container: found[0] as ContainerSummary, ambiguous: null };
    if (found.length > 1) {
      const which = found.map((c) => (project(c) ? `${c.name} (project ${project(c)})` : c.name)).join(', ');
      return {
        container: null,
        ambiguous: `${found.length} running containers ${what}: ${which}; name one in MIZUAL_CELERY_BROKER_URL`,
      };
    }
  }
  return { container: null, ambiguous: null };
}

async function lengthsInContainer(
  client: ReturnType<typeof createDockerClient>,
  container: string,
  target: BrokerTarget,
  keys: string[],
  timeoutMs: number,
): Promise<number[]> {
  // The URL's port is the one the service listens on inside its own network namespace.
  const argv = ['redis-cli', '-h', '127.0.0.1', '-p', String(target.port), '-n', String(target.db)];
  if (target.tls) argv.push('--tls');
  if (target.username) argv.push('--user', target.username);
  argv.push('--no-auth-warning', 'EVAL', LLEN_SCRIPT, String(keys.length), ...keys);
  const env = target.password ? [`REDISCLI_AUTH=${target.password}`] : [];
  const result = await client.execInContainer(container, argv, { timeoutMs, env });
  const lines = result.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (result.exitCode === 0 && lines.length === keys.length && lines.every((l) => /^\d+$/.test(l))) {
    return lines.map(Number);
  }
  // redis-cli says why on stderr (AUTH failed, could not connect) before any reply on stdout.
  const said = [...result.stderr.split('\n'), ...lines].map((l) => l.trim()).find(Boolean);
  throw new Error(`redis-cli${result.exitCode === 0 ? '' : ` exited ${result.exitCode}`}: ${said ?? 'no answer'}`);
}

async function lengthsOverSocket(
  target: BrokerTarget,
  keys: string[],
  timeoutMs: number,
  servername?: string,
): Promise<number[]> {
  const commands: string[][] = [];
  if (target.password)
    commands.push(target.username ? ['AUTH', target.username, target.password] : ['AUTH', target.password]);
  if (target.db !== 0) commands.push(['SELECT', String(target.db)]);
  const first = commands.length;
  for (const key of keys) commands.push(['LLEN', key]);
  const replies = await runCommands(
    { host: target.host, port: target.port, tls: target.tls, timeoutMs, servername },
    commands,
  );
  const failed = replies.find((r): r is RespError => r instanceof RespError);
  if (failed) throw new Error(`Redis said: ${failed.message}`);
  return replies.slice(first).map((r: RespReply) => (typeof r === 'number' ? r : 0));
}

/** `queue:<queue>`: WARNING at `backlog` waiting messages; not checked (UNKNOWN) when the broker did not answer. */
export function queueChecks(queues: readonly QueueFigure[], problem: string | null, backlog: number): Observation[] {
  return queues.map((q) => {
    const base = { check: `queue:${q.queue}`, severity: 'warning' as const, threshold: backlog };
    if (q.length === null) {
      const message = `queue ${q.queue} not checked: ${problem ?? 'the broker did not answer'}`;
      return { ...base, value: null, message, unknown: true };
    }
    const message = `queue ${q.queue}: ${q.length} waiting (threshold ${backlog})`;
    return { ...base, value: q.length, message, failing: q.length >= backlog };
  });
}

/** `mizual_celery_queue_length{queue}` (no sample while the broker does not answer). */
export function queueSeries(exposition: Exposition, queues: readonly QueueFigure[]): void {
  for (const q of queues) {
    exposition.metric(
      'mizual_celery_queue_length',
      'Messages waiting in a Celery queue, every priority summed.',
      q.length,
      {
        queue: q.queue,
      },
    );
  }
}
