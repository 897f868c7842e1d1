/**
 * Remote retention for `mizual-ship-logs --prune`: delete this host's archives past retention under
 * `logs/<env>/<host>/` only, judged by the date in the key (never today's), every version and delete
 * marker of each (a B2 bucket keeps versions, and a plain delete only hides a file).
 */
import type { S3Settings } from '../core/config.js';
import { hostPrefix, parseArchiveKey, retentionCutoff, type LogEnv } from '../archive/contract.js';

export interface PruneOptions {
  s3: S3Settings;
  env: LogEnv;
  hostname: string;
  retentionDays: number;
  nowMs: number;
  dryRun: boolean;
}

export interface PrunedObject {
  key: string;
  /** Versions and delete markers removed (or that would be). */
  versions: number;
  bytes: number;
}

/** Delete (or, dry, list) the remote archives past retention; returns them by key. */
export async function pruneRemote(options: PruneOptions): Promise<PrunedObject[]> {
  const prefix = hostPrefix(options.env, options.hostname);
  const cutoff = retentionCutoff(options.nowMs, options.retentionDays);
  const { createStore } = await import('../store/client.js');
  const store = await createStore(options.s3);
  try {
    const versions = await store.listVersions(prefix);
    const byKey = new Map<string, PrunedObject & { refs: { key: string; versionId: string }[] }>();
    for (const v of versions) {
      const parsed = parseArchiveKey(v.key);
      // Only our own layout, this env and host, and a date before the cutoff; anything else stays.
      if (!parsed || parsed.env !== options.env || parsed.host !== options.hostname || !v.key.startsWith(prefix)) {
        continue;
      }
      if (parsed.date >= cutoff) continue;
      const entry = byKey.get(v.key) ?? { key: v.key, versions: 0, bytes: 0, refs: [] };
      entry.versions++;
      entry.bytes += v.size;
      entry.refs.push({ key: v.key, versionId: v.versionId });
      byKey.set(v.key, entry);
    }
    const found = [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
    if (!options.dryRun) await store.deleteVersions(found.flatMap((e) => e.refs));
    return found.map(({ key, versions, bytes }) => ({ key, versions, bytes }));
  } finally {
    store.close();
  }
}
