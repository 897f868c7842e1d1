/**
 * Docker helpers for tests: bring the engine up (test/harness/docker-up.sh), start labelled busybox
 * containers with --network none, and remove only the containers this process started.
 */
import { execa } from 'execa';
import net from 'node:net';
import path from 'node:path';
import type { DockerClient } from '../../src/docker/client.js';
import { framesToLines, type LogFrame, type LogLine } from '../../src/docker/frames.js';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const UP_SCRIPT = path.join(HERE, 'docker-up.sh');

/** The image docker-up.sh imports from busybox-static (nothing can be pulled here). */
export const TEST_IMAGE = 'mizual-test-busybox:1';
/** Every test container carries this label, so a leftover is recognisable as ours. */
export const TEST_LABEL = 'mizual-test=1';

const started = new Set<string>();
let ready: Promise<true> | undefined;

function isCi(): boolean {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/** Make sure the engine and TEST_IMAGE are there (starting dockerd if needed); throws with the reason otherwise. */
export function ensureDocker(): Promise<true> {
  ready ??= (async () => {
    const result = await execa('bash', [UP_SCRIPT], { reject: false, timeout: 180_000, stdin: 'ignore', all: true });
    if (result.exitCode !== 0) {
      ready = undefined;
      const tail = String(result.all ?? '')
        .trim()
        .split('\n')
        .slice(-15)
        .join('\n');
      throw new Error(
        `Docker engine unavailable for tests (test/harness/docker-up.sh exited ${String(result.exitCode)}):\n${tail}`,
      );
    }
    return true as const;
  })();
  return ready;
}

/**
 * True when the engine is usable. Under CI a missing engine is a failure, never a reason to skip,
 * so there this throws instead of returning false.
 */
export async function dockerAvailable(): Promise<boolean> {
  try {
    return await ensureDocker();
  } catch (err) {
    if (isCi()) throw err;
    return false;
  }
}

export interface StartOptions {
  image?: string;
  /** e.g. ['sh', '-c', 'test -f /tmp/ok'] is written as one string here: the CMD-SHELL form. */
  healthCmd?: string;
  healthIntervalSeconds?: number;
  healthRetries?: number;
  restart?: 'no' | 'always' | 'unless-stopped' | 'on-failure' | `on-failure:${number}`;
  labels?: Record<string, string>;
  env?: Record<string, string>;
  tty?: boolean;
  /** `--log-driver` (default: the engine's, json-file here). */
  logDriver?: string;
  /** `--log-opt key=value`, e.g. max-size, max-file, compress. */
  logOpts?: Record<string, string>;
  /** `--memory` and `--memory-swap` (no swap beyond it), e.g. '32m': past it the kernel OOM-kills. */
  memory?: string;
}

/** A container name unique to this process, so parallel test files never collide. */
export function uniqueName(prefix: string): string {
  return `mizual-test-${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** `docker run -d --network none --name NAME IMAGE sh -c SCRIPT`; resolves with the full container id. */
export async function startContainer(name: string, script: string, options: StartOptions = {}): Promise<string> {
  const args = ['run', '-d', '--network', 'none', '--name', name, '--label', TEST_LABEL];
  for (const [key, value] of Object.entries(options.labels ?? {})) args.push('--label', `${key}=${value}`);
  for (const [key, value] of Object.entries(options.env ?? {})) args.push('--env', `${key}=${value}`);
  if (options.healthCmd !== undefined) {
    args.push('--health-cmd', options.healthCmd, '--health-interval', `${options.healthIntervalSeconds ?? 1}s`);
    args.push('--health-retries', String(options.healthRetries ?? 1), '--health-timeout', '2s');
  }
  if (options.restart !== undefined) args.push('--restart', options.restart);
  if (options.tty) args.push('-t');
  if (options.logDriver !== undefined) args.push('--log-driver', options.logDriver);
  for (const [key, value] of Object.entries(options.logOpts ?? {})) args.push('--log-opt', `${key}=${value}`);
  if (options.memory !== undefined) args.push('--memory', options.memory, '--memory-swap', options.memory);
  args.push(options.image ?? TEST_IMAGE, 'sh', '-c', script);
  // Register before running: a half-created container must still be cleaned up.
  started.add(name);
  const result = await execa('docker', args, { reject: false, stdin: 'ignore', timeout: 60_000 });
  if (result.exitCode !== 0) throw new Error(`docker run ${name} failed: ${String(result.stderr).trim()}`);
  return String(result.stdout).trim();
}

/** Run a docker CLI command (argument array) and return its stdout; throws on failure. */
export async function dockerCli(args: string[]): Promise<string> {
  const result = await execa('docker', args, { reject: false, stdin: 'ignore', timeout: 60_000 });
  if (result.exitCode !== 0) throw new Error(`docker ${args.join(' ')} failed: ${String(result.stderr).trim()}`);
  return String(result.stdout);
}

/** Wait until `docker inspect` shows the container in one of the given states. */
export async function waitForState(name: string, states: string[], timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await dockerCli(['inspect', '-f', '{{.State.Status}}', name]).catch(() => '')).trim();
    if (states.includes(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `container ${name} did not reach ${states.join('/')} within ${timeoutMs} ms (last: ${last || 'none'})`,
  );
}

/** Remove the named containers, but only those this process started and that carry the test label. */
export async function removeContainers(names: Iterable<string>): Promise<void> {
  const ours = [...names].filter((name) => started.has(name));
  if (ours.length === 0) return;
  const labelled = await execa('docker', ['ps', '-a', '--filter', `label=${TEST_LABEL}`, '--format', '{{.Names}}'], {
    reject: false,
    stdin: 'ignore',
  });
  const present = new Set(String(labelled.stdout).split('\n').filter(Boolean));
  const targets = ours.filter((name) => present.has(name));
  if (targets.length > 0) await execa('docker', ['rm', '-f', '-v', ...targets], { reject: false, stdin: 'ignore' });
  for (const name of ours) started.delete(name);
}

/** Remove every container this process started (call from after()). */
export function removeStartedContainers(): Promise<void> {
  return removeContainers([...started]);
}

/** Names of the containers this process started and has not removed yet. */
export function startedContainers(): string[] {
  return [...started];
}

/** A TCP door to the local engine's socket: DOCKER_HOST=tcp://… makes the engine "remote" to the shipper. */
export async function tcpDoorToDocker(): Promise<{ host: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const engine = net.connect('/var/run/docker.sock');
    sockets.add(client).add(engine);
    client.pipe(engine).pipe(client);
    const end = () => {
      client.destroy();
      engine.destroy();
    };
    client.on('error', end).on('close', end);
    engine.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The last n log lines of a container, both streams in order, with Docker's timestamps. */
export async function tailLines(client: DockerClient, nameOrId: string, n: number): Promise<LogLine[]> {
  const stream = await client.containerLogs(nameOrId, { tail: n, timestamps: true });
  const frames: LogFrame[] = [];
  for await (const frame of stream) frames.push(frame as LogFrame);
  return framesToLines(frames, true).slice(-n);
}
