/**
 * The one mapping from a check name to its Alertmanager `alertname`, shared by the webhook's
 * `alertmanager` format and (by test) the Prometheus rules of examples/prometheus/, so one route
 * catches the same check from either source.
 */

/** Families whose second segment is part of what the check is (`db:down`, `celery:stalled`), not its subject. */
const TWO_SEGMENT_FAMILIES = new Set(['db', 'celery']);

/** `Mizual` + the check's family in PascalCase: `disk:/` → MizualDisk, `db:long-query` → MizualDbLongQuery. */
export function alertName(check: string): string {
  const segments = check.split(':');
  const family = TWO_SEGMENT_FAMILIES.has(segments[0] ?? '') ? segments.slice(0, 2) : segments.slice(0, 1);
  const words = family.flatMap((s) => s.split(/[^A-Za-z0-9]+/)).filter((w) => w !== '');
  return `Mizual${words.map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()).join('')}`;
}
