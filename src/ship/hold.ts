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
export async function takeHold(
  docker: DockerClient,
  config: Config,
  known?: Map<string, ContainerDetails | null>,
): Promise<HoldReport> {
  if (!docker.local) return { dir: null, linked: 0, problem: null };
  let dir: string;
  try {
    dir = await resolveHoldDir(config, docker);
    await ensurePrivateDir(dir);
  } catch (err) {
    return { dir: null, linked: 0, problem: `cannot hold log files: ${describeError(err)}` };
  }
  let linked = 0;
  for (const spec of config.containers) {
    let details = known?.get(spec.short);
    if (details === undefined) {
      try {
        details = await docker.inspectContainer(spec.name);
      } catch (err) {
        if (err instanceof DockerApiError && err.statusCode === 404) continue;
        return { dir, linked, problem: `cannot hold log files: ${describeError(err)}` };
      }
    }
    if (!details || !hasLogFile(docker, details)) continue;
    const generations = await listGenerations(details.logPath);
    if (generations.length === 0) continue;
    const own = path.join(dir, details.id);
    try {
      await ensurePrivateDir(own);
      const metaFile = path.join(own, 'meta.json');
      if ((await readJsonState(metaFile)).status !== 'ok') {
        const meta: HoldMeta = {
          id: details.id,
          short: spec.short,
          name: spec.name,
          tty: details.tty,
          createdAt: details.createdAt,
        };
        await writeJsonState(metaFile, meta);
      }
      const present = new Set(await fsp.readdir(own));
      for (const g of generations) {
        const name = linkName(g.dev, g.ino, g.compressed);
        if (present.has(name)) continue;
        try {
          await fsp.link(g.path, path.join(own, name));
          linked++;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          // Rotated away or compressed between the listing and the link: the next generation is listed next time.
          if (code === 'ENOENT' || code === 'EEXIST') continue;
          throw err;
        }
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'EXDEV'
          ? `${dir} is not on the same mount as ${path.dirname(path.dirname(details.logPath))} (set MIZUAL_HOLD_DIR to a directory on that mount)`
          : describeError(err);
      return { dir, linked, problem: `cannot hold log files: ${why}` };
    }
  }
  return { dir, linked, problem: null };
}

/** `mizual-ship-logs --hold`: take the hold for the configured containers and nothing else. */
export async function holdLogs(config: Config): Promise<HoldReport> {
  const docker = createDockerClient({ host: config.dockerHost });
  try {
    if (!docker.local)
      return {
        dir: null,
        linked: 0,
        problem: `nothing to hold: the Docker engine is remote (${docker.endpoint.display})`,
      };
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
