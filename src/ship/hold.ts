/**
 * The hold: hard links to the json-file logs of the configured containers, so a container removed
 * between two shipper runs (watchtower replacing it, `docker rm`) keeps its log until the shipper has
 * shipped it. `docker rm` deletes the container's directory; a hard link keeps the inode and every line
 * written to it up to the removal. Links only work within one mount, so the hold lives on the mount of
 * Docker's data root (`<data root>/mizual-hold` by default, MIZUAL_HOLD_DIR to choose another).
 *
 * Layout: `<hold>/<container id>/meta.json` (short name, name, tty, creation time) and one link per
 * log file, named `<dev>-<ino>` (`.gz` for a compressed generation). Taking the hold is a few stats
 * and links: `--hold` runs it alone every minute from cron.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Config } from '../core/config.js';
import { describeError } from '../core/errors.js';
import { ensurePrivateDir, readJsonState, writeJsonState } from '../core/state-files.js';
import { createDockerClient, DockerApiError, type DockerClient } from '../docker/client.js';
import { listGenerations } from '../docker/log-files.js';
import { resolveHoldDir, type HeldContainer, type HoldMeta } from '../docker/held-logs.js';
import type { ContainerDetails } from '../docker/model.js';
import { faultPoint } from '../core/fault-points.js';

export interface HoldReport {
  dir: string | null;
  /** Links made by this call. */
  linked: number;
  /** Why nothing (or not everything) could be held; the run ships anyway. */
  problem: string | null;
}

/** True for a container whose log files we can hold and read: a local engine and the json-file driver. */
export function hasLogFile(
  docker: DockerClient,
  details: ContainerDetails,
): details is ContainerDetails & {
  logPath: string;
} {
  return docker.local && details.logDriver === 'json-file' && details.logPath !== null;
}

/**
 * Link every configured container's current log generations into the hold; a link that exists is
 * kept. All of them, shipped or not: telling a shipped generation from a new file that reuses its
 * inode takes reading it, and a needless link costs nothing while Docker keeps the file (the next
 * run lets go of the shipped ones).
 */
export async function takeHold(docker: DockerClient, config: Config): Promise<HoldReport> {
  if (!docker.local) return { dir: null, linked: 0, problem: null };
  const found: { spec: Config['containers'][number]; details: ContainerDetails & { logPath: string } }[] = [];
  const problems: string[] = [];
  for (const spec of config.containers) {
    try {
      const details = await docker.inspectContainer(spec.name);
      if (hasLogFile(docker, details)) found.push({ spec, details });
    } catch (err) {
      if (!(err instanceof DockerApiError && err.statusCode === 404))
        problems.push(`${spec.name}: ${describeError(err)}`);
    }
  }
  let dir: string;
  try {
    // A log path names the data root (`<root>/containers/<id>/<id>-json.log`): no /info round trip.
    dir =
      config.holdDir ??
      (found[0] ? holdDirBeside(found[0].details.logPath) : null) ??
      (await resolveHoldDir(config, docker));
    if (found.length > 0) await ensurePrivateDir(dir);
  } catch (err) {
    return { dir: null, linked: 0, problem: `cannot hold log files: ${describeError(err)}` };
  }
  let linked = 0;
  // One container's trouble (a full disk, a race with docker rm) does not stop the others' hold.
  for (const { spec, details } of found) {
    try {
      linked += await holdContainer(dir, spec, details);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'EXDEV'
          ? `${dir} is not on the same mount as ${path.dirname(path.dirname(details.logPath))} (set MIZUAL_HOLD_DIR to a directory on that mount)`
          : `${spec.name}: ${describeError(err)}`;
      problems.push(why);
      if (code === 'EXDEV') break; // Every container is on that mount: no use trying the rest.
    }
  }
  return { dir, linked, problem: problems.length > 0 ? `cannot hold log files: ${problems.join('; ')}` : null };
}

/** `<root>/mizual-hold` for a json-file log path under `<root>/containers/`, else null. */
function holdDirBeside(logPath: string): string | null {
  const containerDir = path.dirname(logPath);
  const containers = path.dirname(containerDir);
  return path.basename(containers) === 'containers' ? path.join(path.dirname(containers), 'mizual-hold') : null;
}

/**
 * Link one container's generations not linked yet, oldest first, numbering each in meta.json's
 * `order`: generations whose first lines carry one timestamp (a long message rotated piece by piece)
 * are still read in the order Docker wrote them once the container is gone.
 */
async function holdContainer(
  dir: string,
  spec: Config['containers'][number],
  details: ContainerDetails & { logPath: string },
): Promise<number> {
  const generations = await listGenerations(details.logPath);
  if (generations.length === 0) return 0;
  const own = path.join(dir, details.id);
  await ensurePrivateDir(own);
  const metaFile = path.join(own, 'meta.json');
  const read = await readJsonState(metaFile);
  const meta: HoldMeta =
    read.status === 'ok'
      ? (read.data as HoldMeta)
      : { id: details.id, short: spec.short, name: spec.name, tty: details.tty, createdAt: details.createdAt };
  const order = { ...meta.order };
  const present = new Set(await fsp.readdir(own));
  let next = Math.max(0, ...Object.values(order)) + 1;
  const toLink = [...generations].reverse().filter((g) => !present.has(linkName(g.dev, g.ino, g.compressed)));
  for (const g of toLink) order[linkName(g.dev, g.ino, g.compressed)] ??= next++;
  // meta.json first, naming every link about to be made: a folder is never left without it (a run killed
  // between the two would leave links no run reads), and a name listed but not linked is linked next time.
  if (toLink.length > 0 || read.status !== 'ok') await writeJsonState(metaFile, { ...meta, order });
  let linked = 0;
  for (const g of toLink) {
    try {
      await fsp.link(g.path, path.join(own, linkName(g.dev, g.ino, g.compressed)));
      linked++;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Rotated away or compressed between the listing and the link: the next generation is listed next time.
      if (code === 'ENOENT' || code === 'EEXIST') continue;
      throw err;
    }
  }
  faultPoint('hold-linked');
  return linked;
}

/** `mizual-ship-logs --hold`: take the hold for the configured containers and nothing else. */
export async function holdLogs(config: Config): Promise<HoldReport> {
  const docker = createDockerClient({ host: config.dockerHost });
  try {
    if (!docker.local) {
      return {
        dir: null,
        linked: 0,
        problem: `nothing to hold: the Docker engine is remote (${docker.endpoint.display})`,
      };
    }
    return await takeHold(docker, config);
  } finally {
    docker.close();
  }
}

function linkName(dev: string, ino: string, compressed: boolean): string {
  return `${dev}-${ino}${compressed ? '.gz' : ''}`;
}

/** Let go of a container's hold entirely (its lines are in a committed archive). */
export async function releaseContainer(held: HeldContainer): Promise<void> {
  faultPoint('release');
  await fsp.rm(held.dir, { recursive: true, force: true });
}

/** Let go of single held links (shipped generations of a container that has moved on). */
export async function releaseFiles(paths: string[]): Promise<void> {
  for (const file of paths) await fsp.rm(file, { force: true });
}

/** A container held this long ago that no configuration names any more is let go. */
const UNCONFIGURED_KEEP_MS = 24 * 3_600_000;

/**
 * Let go of held containers that are not configured (MIZUAL_CONTAINERS changed, or another
 * configuration holds into the same directory) once their hold is a day old: no run would ship them.
 * Returns their names.
 */
export async function releaseUnconfigured(held: HeldContainer[], config: Config, nowMs: number): Promise<string[]> {
  const names = new Set(config.containers.map((c) => c.name));
  const released: string[] = [];
  for (const h of held) {
    if (names.has(h.meta.name)) continue;
    const since = (await fsp.stat(path.join(h.dir, 'meta.json')).catch(() => null))?.mtimeMs ?? nowMs;
    if (nowMs - since < UNCONFIGURED_KEEP_MS) continue;
    await releaseContainer(h);
    released.push(`${h.meta.name} (${h.meta.id.slice(0, 12)})`);
  }
  return released;
}
