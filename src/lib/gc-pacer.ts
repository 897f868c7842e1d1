/**
 * Keep a long export's memory flat. Streaming a gigabyte leaves a steady stream of short-lived
 * buffers outside the JS heap (socket reads, upload parts); V8 lets such external garbage grow by
 * tens of MiB before it collects, so peak RSS would wander with log volume and timing. A full
 * collection of our small heap takes a few milliseconds, so running one on a fixed pace is cheap.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collect = (runInNewContext('gc') as (() => void) | undefined) ?? null;
    } catch {
      collect = null;
    }
  }
  return collect;
}

/** Run a full garbage collection every `intervalMs` until the returned function is called. */
export function startGcPacer(intervalMs = 250): () => void {
  const gc = collector();
  if (!gc) return () => undefined;
  const timer = setInterval(gc, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
