/**
 * What one run exports per configured container, and from where: the log files themselves when the
 * engine is local and the container logs to json-file (by exact position), else the Engine API (by
 * time); first what the hold kept of containers that are gone (replaced by a deploy, removed), then the
 * current container. Planning reads no log line; exporting writes one spool per container.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { ManifestGap } from '../archive/contract.js';
import type { ContainerSpec } from '../core/config.js';
import { mapLimit } from '../core/concurrency.js';
import type { ContainerCheckpoint, FilePosition, ShipState } from '../core/ship-state.js';
import { formatNanoTime, parseNanoTime } from '../core/time.js';
import { DockerApiError, type DockerClient } from '../docker/client.js';
import type { ContainerDetails } from '../docker/model.js';
import { exportContainerLogs, type EntrySpool, type LineMark } from './export.js';
import {
  closeCandidates,
  exportSegments,
  gatherCandidates,
  planSegments,
  type LogCandidate,
  type Segment,
} from './file-source.js';
import { hasLogFile } from './hold.js';
import { type HeldContainer, type HeldFile } from '../docker/held-logs.js';

export type Source = 'file' | 'api';

/** One stretch of one container's log to export. */
export type Part =
  | {
      source: 'file';
      containerId: string;
      /** The container is gone: read from the hold. */
      fromHold: boolean;
      /** No more lines can come (stopped or gone): ship to the very end. */
      complete: boolean;
      segments: Segment[];
      candidates: LogCandidate[];
      /** Lines stamped before this are skipped (no exact position yet). */
      skipBefore: bigint | null;
      held: HeldContainer | null;
    }
  | {
      source: 'api';
      containerId: string;
      tty: boolean;
      complete: boolean;
      /** From here on the log is asked for; to its end. */
      since: bigint;
      /** The last line shipped of this container: the lines after it in the log are the new ones. */
      after: LineMark | null;
      /** When that line is no longer in the log (rotated away): lines stamped from here on are new. */
      sinceWithoutAfter: bigint;
      /** The checkpoint this container had (kept when nothing new comes). */
      previous: ContainerCheckpoint | undefined;
      /** Why the log files are not read directly. */
      reason: string;
    };

export interface Planned {
  short: string;
  container: string;
  /** The container now, or null when there is none by that name. */
  details: ContainerDetails | null;
  parts: Part[];
  gaps: ManifestGap[];
  /** Start of what this run covers for the container (for the manifest). */
  since: bigint;
}

export interface PlanInput {
  docker: DockerClient;
  containers: ContainerSpec[];
  state: ShipState;
  held: HeldContainer[];
  /** Where a container without a checkpoint starts (the first run's --window). */
  fallbackSince: bigint;
  nowNs: bigint;
  /** How far the clock stepped back since the last commit (0 when it did not, or cannot be told). */
  stepBackNs: bigint;
}

/** Containers that are not running write no more lines: their log is complete. */
function isComplete(details: ContainerDetails): boolean {
  return details.state === 'exited' || details.state === 'dead' || details.state === 'created';
}

/** Stdout and stderr are stamped by two goroutines: a line written after another can be stamped this much before it. */
const RESUME_MARGIN_NS = 5_000_000_000n;

function minNs(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function sinceOf(checkpoint: ContainerCheckpoint): bigint {
  return parseNanoTime(checkpoint.until) + 1n;
}

/** Plan every configured container (inspecting them, listing their log files). */
export async function planContainers(input: PlanInput): Promise<Planned[]> {
  const made: Planned[] = [];
  try {
    return await mapLimit(input.containers, 4, (spec) => planContainer(input, spec, made));
  } catch (err) {
    // The files the other containers' plans opened are closed before the error goes up.
    await closePlanned(made);
    throw err;
  }
}

/** Plan one container; its plan is in `made` as soon as it exists, so a failure can close its files. */
async function planContainer(input: PlanInput, spec: ContainerSpec, made: Planned[]): Promise<Planned> {
  let details: ContainerDetails | null;
  try {
    details = await input.docker.inspectContainer(spec.name);
  } catch (err) {
    if (!(err instanceof DockerApiError && err.statusCode === 404)) throw err;
    details = null;
  }
  const checkpoint = input.state.containers[spec.short];
  const planned: Planned = {
    short: spec.short,
    container: spec.name,
    details,
    parts: [],
    gaps: [],
    since: checkpoint ? sinceOf(checkpoint) : input.fallbackSince,
  };
  made.push(planned);
  const unreadable: string[] = [];
  // Containers of this name that are gone but held, oldest first (three deploys between runs: three).
  const gone = input.held
    .filter((h) => h.meta.name === spec.name && h.meta.id !== details?.id)
    .sort((a, b) => compareCreated(a.meta.createdAt, b.meta.createdAt));
  for (const held of gone) {
    const own = checkpoint?.containerId === held.meta.id ? checkpoint : undefined;
    const candidates = await gatherCandidates(null, held.files, unreadable);
    const plan = planSegments(candidates, own?.file);
    if (plan.lost) planned.gaps.push(lostGap(spec, held.meta.id, own as ContainerCheckpoint, 'removed'));
    planned.parts.push({
      source: 'file',
      containerId: held.meta.id,
      fromHold: true,
      complete: true,
      segments: plan.segments,
      candidates,
      skipBefore: skipFor(own, checkpoint, input.fallbackSince),
      held,
    });
  }
  if (
    checkpoint &&
    details &&
    checkpoint.containerId !== details.id &&
    !checkpoint.complete &&
    !gone.some((h) => h.meta.id === checkpoint.containerId)
  ) {
    planned.gaps.push({
      short: spec.short,
      container: spec.name,
      oldContainerId: checkpoint.containerId,
      newContainerId: details.id,
      lastShippedAt: checkpoint.until,
      reason:
        'container was recreated before its log was held; lines the old one wrote after lastShippedAt were deleted with it',
      kind: 'removed-unheld',
    });
  }
  planned.gaps.push(...unreadableGaps(spec, details?.id ?? '', checkpoint, unreadable.splice(0)));
  if (!details) return planned;
  const own = checkpoint?.containerId === details.id ? checkpoint : undefined;
  const complete = isComplete(details);
  const fileReason = await fileSourceProblem(input.docker, details);
  if (fileReason === null) {
    const heldFiles: HeldFile[] = input.held.find((h) => h.meta.id === details.id)?.files ?? [];
    const candidates = await gatherCandidates(details.logPath, heldFiles, unreadable);
    const plan = planSegments(candidates, own?.file);
    if (plan.lost && own) planned.gaps.push(lostGap(spec, details.id, own, 'rotated'));
    planned.parts.push({
      source: 'file',
      containerId: details.id,
      fromHold: false,
      complete,
      segments: plan.segments,
      candidates,
      skipBefore: skipFor(own, checkpoint, input.fallbackSince),
      held: null,
    });
  } else {
    // A recreated container is exported from its creation; an unknown one from the first run's window.
    const byTime = own
      ? sinceOf(own)
      : checkpoint && details.createdAt
        ? parseNanoTime(details.createdAt)
        : input.fallbackSince;
    // With the last line shipped known, ask from a little before it (and as far back as the clock
    // stepped): the lines after it in the log are new even when stamped earlier than it.
    const after = own?.last ?? null;
    const since = after ? minNs(byTime, parseNanoTime(after.stamp) - input.stepBackNs - RESUME_MARGIN_NS) : byTime;
    planned.parts.push({
      source: 'api',
      containerId: details.id,
      tty: details.tty,
      complete,
      since,
      after,
      sinceWithoutAfter: byTime,
      previous: own,
      reason: fileReason,
    });
  }
  planned.gaps.push(...unreadableGaps(spec, details.id, checkpoint, unreadable));
  return planned;
}

/** Gaps for log files that could not be read (a .gz a host crash cut short). */
function unreadableGaps(
  spec: ContainerSpec,
  id: string,
  checkpoint: ContainerCheckpoint | undefined,
  files: string[],
): ManifestGap[] {
  return files.map((file) => ({
    short: spec.short,
    container: spec.name,
    oldContainerId: id,
    newContainerId: id,
    lastShippedAt: checkpoint?.until ?? '',
    reason: `log file ${file}: it could not be read, so its lines (or those after the damage) are not in the archive`,
    kind: 'unreadable',
  }));
}

/** Docker's creation times, oldest first (compared as times: Docker trims trailing zeros). */
function compareCreated(a: string | null, b: string | null): number {
  const ta = a ? parseNanoTime(a) : -1n;
  const tb = b ? parseNanoTime(b) : -1n;
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

/**
 * Without an exact position, the time to start from: after the checkpoint's last line (an API
 * checkpoint of this container), nothing for a container the checkpoint does not name (a newer one:
 * all of it), the first run's window when there is no checkpoint at all.
 */
function skipFor(
  own: ContainerCheckpoint | undefined,
  checkpoint: ContainerCheckpoint | undefined,
  fallbackSince: bigint,
): bigint | null {
  if (own) return own.file ? null : sinceOf(own);
  return checkpoint ? null : fallbackSince;
}

function lostGap(
  spec: ContainerSpec,
  id: string,
  checkpoint: ContainerCheckpoint,
  how: 'removed' | 'rotated',
): ManifestGap {
  return {
    short: spec.short,
    container: spec.name,
    oldContainerId: id,
    newContainerId: id,
    lastShippedAt: checkpoint?.until ?? '',
    reason:
      how === 'rotated'
        ? 'a log file was rotated away (max-file) before it was read to its end; lines after lastShippedAt in it are lost'
        : 'the held log file the checkpoint names is gone; lines after lastShippedAt in it are lost',
    kind: how === 'rotated' ? 'rotated-away' : 'held-file-deleted',
  };
}

/** Why this container's log files cannot be read directly (null: they can). */
export async function fileSourceProblem(docker: DockerClient, details: ContainerDetails): Promise<string | null> {
  if (!docker.local) return `the Docker engine is remote (${docker.endpoint.display})`;
  if (details.logDriver !== 'json-file') return `the ${details.logDriver || 'unknown'} log driver keeps no json-file`;
  if (!hasLogFile(docker, details)) return 'the engine names no log file';
  try {
    await fsp.access(details.logPath, fsp.constants.R_OK);
    const handle = await fsp.open(details.logPath, 'r');
    await handle.close();
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Not created yet (a container that never wrote a line: its directory is there, the file not yet);
    // but with no directory either, the engine's data root is not visible from here (this tool in a
    // container, a forwarded socket): the API has the lines.
    if (code === 'ENOENT') {
      const dir = path.dirname(details.logPath);
      if (
        await fsp.stat(dir).then(
          (info) => info.isDirectory(),
          () => false,
        )
      )
        return null;
      return `its log directory ${dir} is not visible here (the engine's data root is on another machine or outside this container)`;
    }
    return `its log file is not readable (${code ?? 'error'}; run as root)`;
  }
}

/** What exporting one part gave. */
export interface PartResult {
  part: Part;
  lines: number;
  /** The checkpoint this part leaves for its container. */
  checkpoint: ContainerCheckpoint;
  /** Files that broke off while they were read (a corrupt .gz). */
  unreadableFiles: string[];
}

/**
 * What carrying out one container's plan gave: each part's result, the gaps met on the way, the
 * checkpoint it leaves, and the held files it no longer needs once the archive is committed.
 */
export interface Exported {
  parts: PartResult[];
  gaps: ManifestGap[];
  checkpoint: ContainerCheckpoint | undefined;
  release: { containers: HeldContainer[]; files: string[] };
}

/** Carry out a container's plan into its spool: the one call a run makes between planning and committing. */
export async function exportPlanned(docker: DockerClient, planned: Planned, spool: EntrySpool): Promise<Exported> {
  const parts = await exportParts(docker, planned, spool);
  return {
    parts,
    gaps: exportGaps(planned, parts),
    checkpoint: parts.at(-1)?.checkpoint,
    release: releasable(parts),
  };
}

/** Export every part of a container into its spool, in order. */
async function exportParts(docker: DockerClient, planned: Planned, spool: EntrySpool): Promise<PartResult[]> {
  const results: PartResult[] = [];
  const previous = (): ContainerCheckpoint | undefined => results.at(-1)?.checkpoint;
  for (const part of planned.parts) {
    const before = spool.lineCount;
    let checkpoint: ContainerCheckpoint;
    let unreadableFiles: string[] = [];
    if (part.source === 'file') {
      const exported = await exportSegments(part.segments, spool, {
        complete: part.complete,
        skipBefore: part.skipBefore,
      });
      const position: FilePosition | undefined = exported.position ?? undefined;
      unreadableFiles = exported.unreadableFiles;
      checkpoint = {
        containerId: part.containerId,
        until: exported.lastStamp ?? previous()?.until ?? formatNanoTime(planned.since - 1n),
        ...(position ? { file: position } : {}),
        ...(part.complete ? { complete: true } : {}),
      };
    } else {
      const request = { container: part.containerId, tty: part.tty, until: null, after: part.after };
      // Removed since it was planned: nothing now, the hold (if it has it) finishes it next run.
      const gone = (err: unknown) => {
        if (err instanceof DockerApiError && err.statusCode === 404) return { found: true, last: null };
        throw err;
      };
      let result = await exportContainerLogs(docker, { ...request, since: part.since }, spool).catch(gone);
      if (!result.found) {
        // The last line shipped is gone from the log (rotated away): nothing was written; by time instead.
        const byTime = { ...request, since: part.sinceWithoutAfter, after: null };
        result = await exportContainerLogs(docker, byTime, spool).catch(gone);
      }
      const last = result.last ?? part.previous?.last;
      checkpoint = {
        containerId: part.containerId,
        until: result.last?.stamp ?? part.previous?.until ?? formatNanoTime(part.sinceWithoutAfter - 1n),
        ...(last ? { last } : {}),
        ...(part.complete ? { complete: true } : {}),
      };
    }
    await spool.closeLine();
    results.push({ part, lines: spool.lineCount - before, checkpoint, unreadableFiles });
  }
  return results;
}

/** The gaps of files that broke off while they were exported. */
function exportGaps(planned: Planned, results: PartResult[]): ManifestGap[] {
  const spec = { short: planned.short, name: planned.container };
  return results.flatMap((r) => unreadableGaps(spec, r.part.containerId, r.checkpoint, r.unreadableFiles));
}

/**
 * Held files this container no longer needs once the archive is committed: every held file of a gone
 * container, and the held generations of a live one that come before its new position (not its live file).
 */
function releasable(results: PartResult[]): { containers: HeldContainer[]; files: string[] } {
  const containers: HeldContainer[] = [];
  const files: string[] = [];
  for (const { part, checkpoint } of results) {
    if (part.source !== 'file') continue;
    if (part.held) {
      containers.push(part.held);
      continue;
    }
    const at = checkpoint.file
      ? part.candidates.findIndex((c) => c.dev === checkpoint.file?.dev && c.ino === checkpoint.file?.ino)
      : -1;
    for (const c of part.candidates.slice(0, Math.max(0, at))) if (!c.live) files.push(...c.heldPaths);
  }
  return { containers, files };
}

/** Close the log files planning opened. */
export async function closePlanned(planned: Planned[]): Promise<void> {
  for (const p of planned)
    for (const part of p.parts) if (part.source === 'file') await closeCandidates(part.candidates);
}
