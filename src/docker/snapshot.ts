/**
 * One look at the engine per run: one list of every container (all=1) and one inspect per watched
 * container, taken once and handed to whoever needs it (the container checks, the application's log
 * reader, the broker lookup), so a run asks the engine about each container once.
 */
import type { ContainerSpec } from '../core/config.js';
import { createDockerClient, DockerApiError } from './client.js';
import { toDetails, toSummary, type ContainerDetails, type ContainerSummary } from './model.js';
import type { RawInspect, RawListEntry } from './model.js';

/** A watched container and what the engine said of it (null: no container of exactly that name). */
export interface SeenContainer {
  spec: ContainerSpec;
  details: ContainerDetails | null;
}

export interface EngineSnapshot {
  /** The engine as shown to users (no credentials). */
  endpoint: string;
  /** Every container on the engine, running or not, as listed. */
  list: ContainerSummary[];
  /** The engine's own list entries (every name, labels, ports), in the same order as `list`. */
  rawList: RawListEntry[];
  /** The inspect of each watched name as the engine answered it (null: 404); an id prefix may match. */
  inspected: ReadonlyMap<string, ContainerDetails | null>;
  /** The same inspects as the engine's documents (restart policy, networks, ports, state). */
  rawInspected: ReadonlyMap<string, RawInspect>;
  /** Each watched container with its details when its name matches exactly. */
  watched: SeenContainer[];
}

/** A snapshot, or why the engine could not be looked at. */
export type Snapshot = EngineSnapshot | { error: unknown; endpoint: string };

export interface SnapshotOptions {
  dockerHost?: string;
  timeoutMs?: number;
}

/** List every container and inspect each watched one, all at once; an engine that fails is the snapshot's error. */
export async function takeSnapshot(specs: readonly ContainerSpec[], options: SnapshotOptions = {}): Promise<Snapshot> {
  // A malformed DOCKER_HOST is the user's mistake, not the engine's: it rejects (a usage error).
  const client = createDockerClient({ host: options.dockerHost, timeoutMs: options.timeoutMs });
  const endpoint = client.endpoint.display;
  try {
    const names = [...new Set(specs.map((s) => s.name))];
    const [list, inspects] = await Promise.all([
      client.listContainersRaw({ all: true }).then(
        (raw) => ({ raw }),
        (error: unknown) => ({ error }),
      ),
      Promise.all(
        names.map(async (name) => {
          try {
            return { name, raw: await client.inspectContainerRaw(name) };
          } catch (err) {
            if (err instanceof DockerApiError && err.statusCode === 404) return { name, raw: null };
            return { name, error: err };
          }
        }),
      ),
    ]);
    // An inspect's own error says most about the container that could not be looked at.
    const failed = inspects.find((i) => 'error' in i);
    if (failed && 'error' in failed) return { error: failed.error, endpoint };
    if ('error' in list) return { error: list.error, endpoint };
    const inspected = new Map<string, ContainerDetails | null>();
    const rawInspected = new Map<string, RawInspect>();
    for (const i of inspects) {
      if ('error' in i) continue;
      inspected.set(i.name, i.raw ? toDetails(i.raw) : null);
      if (i.raw) rawInspected.set(i.name, i.raw);
    }
    const watched = specs.map((spec) => {
      const details = inspected.get(spec.name) ?? null;
      // Inspect also matches an id prefix: only the exact name counts.
      return { spec, details: details && details.name === spec.name ? details : null };
    });
    return { endpoint, list: list.raw.map(toSummary), rawList: list.raw, inspected, rawInspected, watched };
  } finally {
    client.close();
  }
}

/** What the snapshot says of one watched name (null: no such container); throws why the engine was not looked at. */
export function inspectedIn(snapshot: Snapshot, name: string): ContainerDetails | null {
  if ('error' in snapshot) throw snapshot.error;
  return snapshot.inspected.get(name) ?? null;
}

/** Every container the snapshot listed; throws why the engine was not looked at. */
export function listedIn(snapshot: Snapshot): ContainerSummary[] {
  if ('error' in snapshot) throw snapshot.error;
  return snapshot.list;
}
