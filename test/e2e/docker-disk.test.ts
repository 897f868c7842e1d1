/**
 * What Docker could reclaim, against the real engine and the real `docker system df`: unused images made
 * with `docker import`, a stopped container with a written layer, and a volume no container mounts.
 * Other tests use the same engine at the same time, so the figures are compared with `docker system df`
 * snapshots taken just before and just after ours, and the comparison is retried once when those two
 * disagree with each other (a concurrent change explains it).
 */
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  dockerCli,
  ensureDocker,
  removeStartedContainers,
  startContainer,
  uniqueName,
  waitForState,
} from '../harness/docker.js';
import { runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-docker-disk-');
const images: string[] = [];
const volumes: string[] = [];

after(async () => {
  await removeStartedContainers();
  for (const image of images) await execa('docker', ['rmi', '-f', image], { reject: false });
  for (const volume of volumes) await execa('docker', ['volume', 'rm', '-f', volume], { reject: false });
  scratch.cleanup();
});

const UNITS: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, PB: 1e15 };

/** `1.982MB (100%)` → bytes (docker's units.HumanSize: decimal units, four significant digits). */
function parseHuman(text: string): number {
  const m = /^([\d.]+)\s*([kMGTP]?B)/.exec(text.trim());
  assert.ok(m, `unexpected size ${text}`);
  return Number(m[1]) * (UNITS[m[2] as string] as number);
}

type Kinds = { images: number; containers: number; volumes: number; buildCache: number };

async function systemDf(): Promise<Kinds> {
  const out = await dockerCli(['system', 'df', '--format', '{{json .}}']);
  const rows = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { Type: string; Reclaimable: string });
  const of = (type: string): number => parseHuman(rows.find((r) => r.Type === type)?.Reclaimable ?? '0B');
  return {
    images: of('Images'),
    containers: of('Containers'),
    volumes: of('Local Volumes'),
    buildCache: of('Build Cache'),
  };
}

/** Within 1%, or within the rounding of docker's four significant digits for small figures. */
function close(ours: number, theirs: number): boolean {
  return Math.abs(ours - theirs) <= Math.max(0.01 * theirs, 0.0005 * theirs + 1);
}

before(async () => {
  await ensureDocker();
  // Two images no container uses: a filesystem of random bytes each (incompressible, sizes known).
  for (const size of [3_000_000, 5_000_000]) {
    const dir = path.join(scratch.dir, `root-${size}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'blob'), randomBytes(size));
    const tag = `${uniqueName('disk-image')}:1`;
    const tar = await execa('tar', ['-C', dir, '-c', '.'], { encoding: 'buffer' });
    await execa('docker', ['import', '-', tag], { input: tar.stdout as Buffer });
    images.push(tag);
  }
  // A stopped container that wrote 2 MB into its own layer.
  const stopped = uniqueName('disk-stopped');
  await startContainer(stopped, 'head -c 2000000 /dev/urandom > /big; exit 0');
  await waitForState(stopped, ['exited']);
  // A volume no container mounts any more, holding 1 MB.
  const volume = uniqueName('disk-volume');
  volumes.push(volume);
  await dockerCli(['volume', 'create', volume]);
  const filler = uniqueName('disk-filler');
  await execa('docker', [
    'run',
    '--rm',
    '--network',
    'none',
    '--name',
    filler,
    '-v',
    `${volume}:/data`,
    'mizual-test-busybox:1',
    'sh',
    '-c',
    'head -c 1000000 /dev/urandom > /data/x',
  ]);
});

describe('docker.reclaimable in mizual-metrics --json', () => {
  it('agrees with `docker system df` within 1% for images, stopped containers, volumes and build cache', async () => {
    let last = '';
    for (let attempt = 1; attempt <= 2; attempt++) {
      const before = await systemDf();
      const result = await runTool('mizual-metrics', ['--json', '--sample', '1'], { cwd: scratch.dir });
      const after = await systemDf();
      assert.equal(result.exitCode, 0, result.stderr);
      const report = JSON.parse(result.stdout) as {
        docker: { reclaimable: Kinds & { total: number }; reclaimCommand: string };
      };
      const ours = report.docker.reclaimable;
      assert.ok(ours, result.stdout.slice(0, 500));
      assert.equal(ours.total, ours.images + ours.containers + ours.volumes + ours.buildCache);
      assert.equal(report.docker.reclaimCommand, 'docker system prune --all --volumes');
      // What this file made is in there, whatever else the engine holds.
      assert.ok(ours.images >= 8_000_000, `images ${ours.images}`);
      assert.ok(ours.containers >= 2_000_000, `containers ${ours.containers}`);
      assert.ok(ours.volumes >= 1_000_000, `volumes ${ours.volumes}`);
      const kinds = ['images', 'containers', 'volumes', 'buildCache'] as const;
      const agree = kinds.every((k) => close(ours[k], before[k]) || close(ours[k], after[k]));
      if (agree) return;
      last = JSON.stringify({ ours, before, after });
      const stable = kinds.every((k) => before[k] === after[k]);
      // The engine did not change between the two snapshots: the mismatch is ours.
      assert.ok(!stable, `reclaimable disagrees with docker system df: ${last}`);
    }
    assert.fail(`reclaimable disagrees with docker system df twice while the engine changed: ${last}`);
  });
});
