/**
 * What Docker could give back of the disk, from the Engine API's `/system/df`, counted the way
 * `docker system df` counts its RECLAIMABLE column: images (all layers less what the images in use
 * take on their own), stopped containers' writable layers, volumes no container uses, and build cache
 * not in use. A 2 GB server fills its disk with the old images watchtower leaves behind
 * (unless WATCHTOWER_CLEANUP is set) long before the logs do.
 */
import { formatBytes } from '../core/units.js';
import type { DockerClient } from './client.js';

/** The parts of `/system/df` read here (an engine of 20.10 or later). */
export interface RawSystemDf {
  LayersSize?: number;
  Images?: { Containers?: number; Size?: number; SharedSize?: number; RepoTags?: string[] | null }[] | null;
  Containers?: { State?: string; SizeRw?: number; Names?: string[] }[] | null;
  Volumes?: { UsageData?: { Size?: number; RefCount?: number } | null }[] | null;
  BuildCache?: { Size?: number; InUse?: boolean; Shared?: boolean }[] | null;
  BuilderSize?: number;
}

export interface Reclaimable {
  images: number;
  buildCache: number;
  containers: number;
  volumes: number;
  total: number;
}

/** The one command that gives all of it back (it deletes every unused image, stopped container and unused volume). */
export const RECLAIM_COMMAND = 'docker system prune --all --volumes';

const ACTIVE = /running|paused|restarting/;

/** The RECLAIMABLE figures of `docker system df`, in bytes. */
export function reclaimableOf(df: RawSystemDf): Reclaimable {
  let usedByImages = 0;
  for (const image of df.Images ?? []) {
    const size = image.Size ?? -1;
    const shared = image.SharedSize ?? -1;
    if ((image.Containers ?? 0) !== 0 && size !== -1 && shared !== -1) usedByImages += size - shared;
  }
  const images = Math.max(0, (df.LayersSize ?? 0) - usedByImages);
  let containers = 0;
  for (const c of df.Containers ?? []) if (!ACTIVE.test(c.State ?? '')) containers += c.SizeRw ?? 0;
  let volumes = 0;
  for (const v of df.Volumes ?? []) {
    const size = v.UsageData?.Size ?? -1;
    if (size !== -1 && (v.UsageData?.RefCount ?? 0) === 0) volumes += size;
  }
  let inUse = 0;
  for (const b of df.BuildCache ?? []) if (b.InUse && !b.Shared) inUse += b.Size ?? 0;
  const buildCache = Math.max(0, (df.BuilderSize ?? 0) - inUse);
  return { images, buildCache, containers, volumes, total: images + buildCache + containers + volumes };
}

/** `unused images 2.3 GiB, stopped containers 477 MiB`: the parts that hold bytes. */
export function describeReclaimable(r: Reclaimable): string {
  return (
    [
      ['unused images', r.images],
      ['build cache', r.buildCache],
      ['stopped containers', r.containers],
      ['unused volumes', r.volumes],
    ] as const
  )
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${what} ${formatBytes(n)}`)
    .join(', ');
}

/** Ask the engine and count. */
export async function readReclaimable(client: DockerClient): Promise<Reclaimable> {
  return reclaimableOf(await client.systemDf());
}
