/** One line per gap, saying what happened to the lines that are not in the archive. */
import type { ManifestGap } from '../archive/contract.js';

/** The diagnostic line for a gap of the manifest (older manifests without `kind` read as a recreation). */
export function describeGap(g: ManifestGap): string {
  const old = g.oldContainerId.slice(0, 12);
  const after = g.lastShippedAt ? `after ${g.lastShippedAt}` : 'not shipped before';
  switch (g.kind) {
    case 'held-file-deleted':
      return `${g.container} (${old}): a held log file was deleted before it was shipped; its lines ${after} are lost`;
    case 'rotated-away':
      return `${g.container} (${old}): a log file was rotated past max-file between two runs, before it was read to its end; its lines ${after} are lost (raise max-size or max-file, or hold with --hold every minute)`;
    case 'unreadable':
      return `${g.container} (${old}): ${g.reason}`;
    default:
      return `${g.container} was recreated (${old} → ${g.newContainerId.slice(0, 12)}) and the old one removed before its log was held (created or replaced between two holds); its lines ${after} are gone`;
  }
}
