/**
 * Continuing after a reinstall: with no local state (a new disk, a wiped MIZUAL_STATE_DIR) the bucket
 * still knows where shipping stopped. This host's newest archive names its window end, and its
 * manifest the checkpoints it committed (`resume`), so the next run neither ships a line twice nor
 * leaves a gap, however long the box was down.
 */
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream';
import {
  datePrefix,
  hostPrefix,
  MANIFEST_NAME,
  MAX_MANIFEST_BYTES,
  parseArchiveKey,
  parseManifest,
  type LogEnv,
  type Manifest,
} from '../archive/contract.js';
import { readTarEntries } from '../archive/read.js';
import { emptyShipState, type ContainerCheckpoint, type ShipState } from '../core/ship-state.js';
import type { Store } from '../store/client.js';

export interface Continuation {
  /** The archive continued from. */
  key: string;
  /** Its window end (RFC 3339): where containers and the alert log without a checkpoint start. */
  end: string;
  /** The state it committed (or what an older manifest, or none, tells of it). */
  state: ShipState;
}

/** This host's newest archive in the bucket and the state it committed, or null when it has none. */
export async function findContinuation(store: Store, env: LogEnv, host: string): Promise<Continuation | null> {
  const days = (await store.listCommonPrefixes(hostPrefix(env, host)))
    .map((p) => p.slice(hostPrefix(env, host).length).replace(/\/$/, ''))
    .sort()
    .reverse();
  for (const day of days) {
    let keys: string[];
    try {
      keys = (await store.listKeys(datePrefix(env, host, day))).map((o) => o.key);
    } catch (err) {
      if (err instanceof RangeError) continue; // Not a date folder of ours.
      throw err;
    }
    const archives = keys
      .map((key) => ({ key, parsed: parseArchiveKey(key) }))
      .filter((k) => k.parsed?.host === host && k.parsed.env === env)
      .sort((a, b) => (a.key < b.key ? 1 : -1));
    const newest = archives[0];
    if (!newest?.parsed) continue;
    // The newest archive that can be read; one that cannot (cut short, not ours) still names its end.
    for (const archive of archives.slice(0, MAX_UNREADABLE + 1)) {
      const manifest = await readManifest(store, archive.key);
      if (manifest === 'unreadable') continue;
      const end = manifest?.window.end ?? (archive.parsed as { end: Date }).end.toISOString();
      return { key: archive.key, end, state: stateOf(manifest, end) };
    }
    const end = newest.parsed.end.toISOString();
    return { key: newest.key, end, state: stateOf(null, end) };
  }
  return null;
}

/** Unreadable archives passed over before the newest one's name alone is taken. */
const MAX_UNREADABLE = 3;

/** The state an archive's manifest committed: its `resume`, else each container's file (id and end). */
function stateOf(manifest: Manifest | null, end: string): ShipState {
  const state = emptyShipState();
  if (manifest?.resume) {
    return {
      ...state,
      containers: { ...manifest.resume.containers },
      alertLog: manifest.resume.alertLog,
      heldShipped: [...manifest.resume.heldShipped],
    };
  }
  const containers: Record<string, ContainerCheckpoint> = {};
  for (const f of manifest?.files ?? []) {
    if (f.kind === 'container' && f.short && f.containerId) {
      containers[f.short] = { containerId: f.containerId, until: f.until ?? end };
    }
  }
  return { ...state, containers };
}

/** The manifest of an archive in the bucket (the last entry), null for an archive without one. */
async function readManifest(store: Store, key: string): Promise<Manifest | null | 'unreadable'> {
  const body = await store.getObjectStream(key);
  const gunzip = pipeline(body, createGunzip(), () => {});
  try {
    for await (const entry of readTarEntries(gunzip)) {
      if (entry.name.replace(/^\.\//, '') !== MANIFEST_NAME || entry.size > MAX_MANIFEST_BYTES) continue;
      const chunks: Buffer[] = [];
      for await (const chunk of entry.body) chunks.push(chunk);
      const read = parseManifest(Buffer.concat(chunks).toString('utf8'));
      return read.status === 'ours' ? read.manifest : null;
    }
    return null;
  } catch {
    return 'unreadable';
  } finally {
    gunzip.destroy();
    body.destroy();
  }
}
