/**
 * Compose names in URLs: the app's `.env` says `db:5432` or `redis:6379`, names only Docker's DNS
 * inside the Compose network knows. A host that does not resolve here but names a Compose service or
 * a container of this engine is dialled at that container: a port it publishes on the host first,
 * else its address on its network. What is dialled changes, never what is verified: TLS still checks
 * the URL's own host name, and the HTTP `Host` header stays the URL's.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type { ContainerSummary } from './model.js';

export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';

/** Where to connect for a URL's host and port, and the container it was reached through (null: dialled as written). */
export interface Dial {
  host: string;
  port: number;
  /** The container's name when the host was a Compose service or container name. */
  container: string | null;
}

/** Where to dial a URL's host and port (a ComposeHosts' dial, or a test's). */
export type DialFn = (host: string, port: number) => Promise<Dial>;

/** Where to connect for an http(s) URL's own host and port (80/443 when it names none), and that host. */
export async function dialUrl(dial: DialFn, url: string): Promise<Dial & { urlHost: string }> {
  const target = new URL(url);
  const urlHost = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  return { ...(await dial(urlHost, port)), urlHost };
}

/** A URL host reached through a container, as `--json` shows it. */
export interface ReachedHost {
  host: string;
  port: number;
  container: string;
  /** `address:port` dialled. */
  address: string;
}

/** One line for the dashboard and `--check`. */
export function describeReached(r: ReachedHost): string {
  return `${r.host}:${r.port} reached through container ${r.container} (${r.address})`;
}

/** A host that names several containers, or a container with no address we can reach: one clear line. */
export class ComposeHostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComposeHostError';
  }
}

/** The containers to look among: the engine's list (all states; only running ones are dialled). */
export type ContainerList = () => Promise<readonly ContainerSummary[]>;

const LOOPBACK: Record<string, string> = { '': '127.0.0.1', '0.0.0.0': '127.0.0.1', '::': '::1' };

/**
 * The container a host names (its Compose service label, else its container name), and where to reach
 * `port` on it; null when no running container answers to the name. Several containers of one service
 * are ambiguous unless `preferProjects` (the watched containers' Compose projects) narrows them to one.
 */
export function findComposeHost(
  host: string,
  port: number,
  list: readonly ContainerSummary[],
  preferProjects: readonly string[] = [],
): { container: ContainerSummary; host: string; port: number } | null {
  const running = list.filter((c) => c.state === 'running');
  let matches = running.filter((c) => c.labels[COMPOSE_SERVICE_LABEL] === host);
  if (matches.length > 1 && preferProjects.length > 0) {
    const preferred = matches.filter((c) => preferProjects.includes(c.labels[COMPOSE_PROJECT_LABEL] ?? ''));
    if (preferred.length > 0) matches = preferred;
  }
  if (matches.length === 0) matches = running.filter((c) => c.name === host);
  if (matches.length === 0) return null;
  if (matches.length > 1) {
    const names = matches
      .map((c) => {
        const project = c.labels[COMPOSE_PROJECT_LABEL];
        return project ? `${c.name} (project ${project})` : c.name;
      })
      .sort();
    throw new ComposeHostError(
      `${host} is the Compose service of ${matches.length} running containers (${names.join(', ')}): ` +
        'give an address or a container name in the URL',
    );
  }
  const container = matches[0]!;
  const published = (container.ports ?? []).find(
    (p) => p.privatePort === port && p.type === 'tcp' && p.publicPort !== undefined,
  );
  if (published?.publicPort !== undefined) {
    const ip = published.ip ?? '';
    return { container, host: LOOPBACK[ip] ?? ip, port: published.publicPort };
  }
  // `network_mode: host` shares the host's own addresses.
  if ((container.networks ?? []).some((n) => n.network === 'host')) return { container, host: '127.0.0.1', port };
  const address = (container.networks ?? []).map((n) => n.ip).find((ip) => ip !== '');
  if (!address) {
    throw new ComposeHostError(
      `${host} is container ${container.name}, which publishes no port ${port} and has no network address`,
    );
  }
  return { container, host: address, port };
}

/** Whether the host's resolver knows the name (an address, `localhost`, /etc/hosts or DNS). */
export async function resolvesHere(host: string): Promise<boolean> {
  if (net.isIP(host) !== 0 || host === 'localhost' || host.startsWith('/')) return true;
  try {
    await lookup(host);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves URL hosts for one run. The engine is listed at most once, and only when some host does not
 * resolve here; each host is looked up once.
 */
export class ComposeHosts {
  private listed: Promise<readonly ContainerSummary[]> | null = null;
  private readonly seen = new Map<string, Promise<Dial>>();
  constructor(
    private readonly list: ContainerList | null,
    private readonly preferProjects: (list: readonly ContainerSummary[]) => readonly string[] = () => [],
  ) {}

  /** Where to dial `host:port`; throws ComposeHostError when the name is ambiguous or unreachable. */
  dial(host: string, port: number): Promise<Dial> {
    const key = `${host}\n${port}`;
    let found = this.seen.get(key);
    if (!found) {
      found = this.resolve(host, port);
      this.seen.set(key, found);
    }
    return found;
  }

  /** Each name dialled at a container so far (`--check`, the dashboard): host, port, container, address. */
  async reached(): Promise<ReachedHost[]> {
    const asked = [...this.seen.entries()];
    const dials = await Promise.all(asked.map(([, d]) => d.catch(() => null)));
    return dials.flatMap((d, i) => {
      if (!d?.container) return [];
      const [host, port] = asked[i]![0].split('\n');
      return [{ host: host!, port: Number(port), container: d.container, address: `${d.host}:${d.port}` }];
    });
  }

  private async resolve(host: string, port: number): Promise<Dial> {
    const asIs: Dial = { host, port, container: null };
    if (!this.list || (await resolvesHere(host))) return asIs;
    this.listed ??= this.list();
    let list: readonly ContainerSummary[];
    try {
      list = await this.listed;
    } catch {
      // No engine to ask: dial as written, and the connection's own error says the name is unknown.
      return asIs;
    }
    const found = findComposeHost(host, port, list, this.preferProjects(list));
    if (!found) return asIs;
    return { host: found.host, port: found.port, container: found.container.name };
  }
}
