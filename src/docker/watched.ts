/**
 * The containers the tools watch when MIZUAL_CONTAINERS is unset: every container meant to keep running
 * (restart policy `always`, `unless-stopped` or `on-failure`), the default names (`mizual-backend`, …)
 * that exist here, and the Compose one-shots (`restart: "no"`, a migration) of those projects.
 *
 * Short names (check names `container:<short>`, archive entries `<short>-<stamp>.log`, checkpoints) must
 * stay the same across deploys, when watchtower or Compose replace a container by a new one: a default
 * keeps its short name (`backend`); a Compose container takes its service (`redis`) when its project has
 * one container of that service, else its container name (`app_celery_2`). Two containers that would
 * get the same short name both take their container names, which the engine keeps unique.
 */
import { parseContainers, DEFAULT_CONTAINERS, type Config, type ContainerSpec } from '../core/config.js';
import { mapLimit } from '../core/concurrency.js';
import { describeError } from '../core/errors.js';
import type { DockerClient } from './client.js';
import { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL, ComposeHosts } from './compose-hosts.js';
import {
  toDetails,
  toSummary,
  type ContainerDetails,
  type ContainerState,
  type ContainerSummary,
  type RawInspect,
  type RawListEntry,
} from './model.js';
import type { EngineSnapshot } from './snapshot.js';

export const KEEP_RUNNING_POLICIES: readonly string[] = ['always', 'unless-stopped', 'on-failure'];

/** What discovery needs of each container on the engine (the list entry plus its restart policy). */
export interface Candidate {
  name: string;
  id: string;
  state: ContainerState;
  restartPolicy: string;
  labels: Record<string, string>;
}

/** A container seen by an earlier run, kept in the alerts state so its disappearance is noticed. */
export interface RememberedContainer {
  name: string;
  project?: string;
  service?: string;
}

export interface WatchedSet {
  containers: ContainerSpec[];
  /** The default container names not on this host (`mizual-registry`). */
  defaultsNotFound: string[];
  /** True when MIZUAL_CONTAINERS named them (nothing discovered). */
  explicit: boolean;
}

/** The one line the dashboard and `--check` print for defaults not found. */
export function defaultsNotFoundAdvice(names: readonly string[]): string {
  return (
    `default container${names.length === 1 ? '' : 's'} not on this host: ${names.join(', ')} ` +
    '(watching the containers meant to keep running instead; set MIZUAL_CONTAINERS=short=container,… to choose)'
  );
}

const keyOf = (short: string): string => short.toLowerCase();

/** Choose the watched containers and their short names from what the engine holds (pure; unit-tested). */
export function chooseWatched(
  candidates: readonly Candidate[],
  remembered: Readonly<Record<string, RememberedContainer>> = {},
): WatchedSet {
  const byName = new Map(candidates.map((c) => [c.name, c]));
  const defaults = parseContainers(DEFAULT_CONTAINERS);
  const specs: ContainerSpec[] = [];
  const taken = new Set<string>();
  const defaultsNotFound: string[] = [];
  for (const d of defaults) {
    const found = byName.get(d.name);
    if (!found) {
      defaultsNotFound.push(d.name);
      continue;
    }
    specs.push({ ...d, origin: 'default', ...composeOf(found) });
    taken.add(keyOf(d.short));
  }
  const projects = new Set(
    candidates
      .filter((c) => KEEP_RUNNING_POLICIES.includes(c.restartPolicy) || specs.some((s) => s.name === c.name))
      .map((c) => c.labels[COMPOSE_PROJECT_LABEL])
      .filter((p): p is string => Boolean(p)),
  );
  const others = candidates
    .filter((c) => !specs.some((s) => s.name === c.name))
    .flatMap((c): { c: Candidate; origin: 'discovered' | 'one-shot' }[] => {
      if (KEEP_RUNNING_POLICIES.includes(c.restartPolicy)) return [{ c, origin: 'discovered' }];
      // A one-shot of an app's Compose stack (its migration); strangers' `docker run` leftovers are not ours.
      const project = c.labels[COMPOSE_PROJECT_LABEL];
      return project && projects.has(project) && c.labels[COMPOSE_SERVICE_LABEL] ? [{ c, origin: 'one-shot' }] : [];
    })
    .sort((a, b) => a.c.name.localeCompare(b.c.name));
  const proposed = others.map(({ c }) => {
    const { project, service } = composeOf(c);
    const alone =
      project !== undefined &&
      service !== undefined &&
      candidates.filter((o) => composeOf(o).project === project && composeOf(o).service === service).length === 1;
    return alone ? service : c.name;
  });
  const counts = new Map<string, number>();
  for (const p of proposed) counts.set(keyOf(p), (counts.get(keyOf(p)) ?? 0) + 1);
  others.forEach(({ c, origin }, i) => {
    let short = proposed[i]!;
    if ((counts.get(keyOf(short)) ?? 0) > 1 || taken.has(keyOf(short))) short = c.name;
    if (taken.has(keyOf(short))) short = `${c.name}-${c.id.slice(0, 12)}`;
    taken.add(keyOf(short));
    specs.push({ short, name: c.name, origin, ...composeOf(c) });
  });
  // A container seen before and gone now (not replaced: no container of that name, nor of its project and service).
  for (const [short, seen] of Object.entries(remembered)) {
    const replaced = specs.some(
      (s) =>
        s.name === seen.name ||
        (seen.service !== undefined && s.project === seen.project && s.service === seen.service),
    );
    if (replaced || taken.has(keyOf(short))) continue;
    taken.add(keyOf(short));
    specs.push({ short, name: seen.name, origin: 'remembered', project: seen.project, service: seen.service });
  }
  return { containers: specs, defaultsNotFound, explicit: false };
}

/** What the alerts state keeps: the watched containers meant to keep running (not one-shots). */
export function rememberWatched(specs: readonly ContainerSpec[]): Record<string, RememberedContainer> {
  const kept: Record<string, RememberedContainer> = {};
  for (const s of specs) {
    if (s.origin === undefined || s.origin === 'one-shot') continue;
    kept[s.short] = {
      name: s.name,
      ...(s.project ? { project: s.project } : {}),
      ...(s.service ? { service: s.service } : {}),
    };
  }
  return kept;
}

function composeOf(c: Pick<Candidate, 'labels'>): { project?: string; service?: string } {
  const project = c.labels[COMPOSE_PROJECT_LABEL];
  const service = c.labels[COMPOSE_SERVICE_LABEL];
  return { ...(project ? { project } : {}), ...(service ? { service } : {}) };
}

/** The engine's containers with their restart policies: one list, one inspect each (the list does not say it). */
export async function listCandidates(
  client: Pick<DockerClient, 'listContainersRaw' | 'inspectContainerRaw'>,
): Promise<{ candidates: Candidate[]; rawList: RawListEntry[]; rawInspected: Map<string, RawInspect> }> {
  const rawList = await client.listContainersRaw({ all: true });
  const rawInspected = new Map<string, RawInspect>();
  const inspected = await mapLimit(rawList.map(toSummary), 4, async (c) => {
    try {
      const raw = await client.inspectContainerRaw(c.id);
      rawInspected.set(c.name, raw);
      return { ...c, restartPolicy: toDetails(raw).restartPolicy ?? 'no' };
    } catch {
      // Removed between the list and the inspect: not there to watch.
      return null;
    }
  });
  return { candidates: inspected.filter((c): c is NonNullable<typeof c> => c !== null), rawList, rawInspected };
}

/** The Compose projects of the watched containers (where a URL's service name is looked up first). */
export function watchedProjects(specs: readonly ContainerSpec[], list: readonly ContainerSummary[] = []): string[] {
  // A container named in MIZUAL_CONTAINERS carries no project: its list entry's Compose label says it.
  const names = new Set(specs.map((s) => s.name));
  const listed = list.flatMap((c) => {
    const project = c.labels[COMPOSE_PROJECT_LABEL];
    return names.has(c.name) && project ? [project] : [];
  });
  return [...new Set([...specs.flatMap((s) => (s.project ? [s.project] : [])), ...listed])];
}

/** One run's look at the engine for what to watch, and where the URLs' Compose names lead. */
export interface EngineLook {
  watched: WatchedSet;
  /** Resolves the hosts of DATABASE_URL, the broker, the probes (one engine list at most, shared). */
  hosts: ComposeHosts;
  /** Why discovery failed (engine unreachable): the remembered or default containers stand in. */
  problem: string | null;
  /** The run's engine snapshot when discovery took it (its list and inspects); null: take one. */
  snapshot: EngineSnapshot | null;
  /** The list of a snapshot taken afterwards, for the resolver to use instead of asking for its own. */
  adoptList(list: Promise<ContainerSummary[]>): void;
  close(): void;
}

/**
 * Look at the engine once: discover the watched containers (unless MIZUAL_CONTAINERS names them) and
 * make the Compose-name resolver, both from one container list. With noDocker nothing is asked.
 */
export async function lookAtEngine(
  config: Pick<Config, 'containers' | 'containersExplicit' | 'dockerHost'>,
  options: { noDocker?: boolean; remembered?: Readonly<Record<string, RememberedContainer>> } = {},
): Promise<EngineLook> {
  const remembered = options.remembered ?? {};
  const fallback = (): WatchedSet => {
    const gone = chooseWatched([], remembered).containers;
    return { containers: gone.length > 0 ? gone : config.containers, defaultsNotFound: [], explicit: false };
  };
  if (options.noDocker) {
    const watched = config.containersExplicit ? explicitSet(config.containers) : fallback();
    return {
      watched,
      hosts: new ComposeHosts(null),
      problem: null,
      snapshot: null,
      adoptList: () => undefined,
      close: () => undefined,
    };
  }
  const { createDockerClient } = await import('./client.js');
  const client = createDockerClient({ host: config.dockerHost });
  let listing: Promise<ContainerSummary[]> | null = null;
  const list = (): Promise<ContainerSummary[]> => (listing ??= client.listContainers({ all: true }));
  let watched: WatchedSet;
  let problem: string | null = null;
  let snapshot: EngineSnapshot | null = null;
  if (config.containersExplicit) watched = explicitSet(config.containers);
  else {
    try {
      const found = await listCandidates(client);
      watched = chooseWatched(found.candidates, remembered);
      const summaries = found.rawList.map(toSummary);
      listing = Promise.resolve(summaries);
      snapshot = snapshotOf(client.endpoint.display, watched.containers, summaries, found);
    } catch (err) {
      problem = `containers not discovered: ${describeError(err)}`;
      watched = fallback();
    }
  }
  const hosts = new ComposeHosts(list, (listed) => watchedProjects(watched.containers, listed));
  const adoptList = (given: Promise<ContainerSummary[]>): void => {
    listing ??= given;
  };
  return { watched, hosts, problem, snapshot, adoptList, close: () => client.close() };
}

/** The run's engine snapshot from discovery's own list and inspects: the engine is not asked again. */
function snapshotOf(
  endpoint: string,
  specs: readonly ContainerSpec[],
  list: ContainerSummary[],
  found: { rawList: RawListEntry[]; rawInspected: Map<string, RawInspect> },
): EngineSnapshot {
  const inspected = new Map<string, ContainerDetails | null>();
  const rawInspected = new Map<string, RawInspect>();
  for (const spec of specs) {
    const raw = found.rawInspected.get(spec.name);
    inspected.set(spec.name, raw ? toDetails(raw) : null);
    if (raw) rawInspected.set(spec.name, raw);
  }
  const watched = specs.map((spec) => ({ spec, details: inspected.get(spec.name) ?? null }));
  return { endpoint, list, rawList: found.rawList, inspected, rawInspected, watched };
}

const explicitSet = (containers: ContainerSpec[]): WatchedSet => ({ containers, defaultsNotFound: [], explicit: true });
