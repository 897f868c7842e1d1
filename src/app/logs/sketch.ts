/**
 * A mergeable quantile sketch (DDSketch's log buckets): a duration is counted in the bucket
 * `ceil(log_γ(v))`, so any quantile read back is within 1% of a true value, and the sketches of two
 * minutes (or two runs) add bucket by bucket. Stored as `{index: count}`, a few dozen entries for
 * real latencies, whatever the number of lines.
 */

const GAMMA = 1.02;
const LOG_GAMMA = Math.log(GAMMA);
/** Durations below a microsecond count as one (a zero has no logarithm). */
const MIN_SECONDS = 1e-6;

export type Sketch = Record<string, number>;

/** Count one duration (seconds) into the sketch. */
export function addToSketch(sketch: Sketch, seconds: number): void {
  const key = String(Math.ceil(Math.log(Math.max(seconds, MIN_SECONDS)) / LOG_GAMMA));
  sketch[key] = (sketch[key] ?? 0) + 1;
}

/** Add `from` into `into`. */
export function mergeSketch(into: Sketch, from: Sketch): void {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}

/** The value a bucket stands for (its midpoint in relative terms). */
export function bucketValue(index: number): number {
  return (2 * GAMMA ** index) / (GAMMA + 1);
}

/** The q-quantiles (0–1) of a sketch, in order of `qs`; null when it is empty. */
export function sketchQuantiles(sketch: Sketch, qs: number[]): number[] | null {
  const entries = Object.entries(sketch)
    .map(([k, n]) => [Number(k), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return null;
  return qs.map((q) => {
    const rank = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (const [index, n] of entries) {
      seen += n;
      if (seen >= rank) return round(bucketValue(index));
    }
    return round(bucketValue((entries[entries.length - 1] as readonly [number, number])[0]));
  });
}

function round(value: number): number {
  return Number(value.toPrecision(4));
}
