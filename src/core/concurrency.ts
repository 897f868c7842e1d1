/**
 * Map `work` over `items` with at most `limit` in flight, keeping the results in order. After the first
 * failure no new item is started; the in-flight ones settle, then that first error is thrown (so nothing
 * keeps running unobserved after the caller has moved on). `work` also gets its lane (0 .. limit-1), so a
 * caller can give each lane its own reusable buffer. The one worker pool of the project.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, lane: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const runLane = async (lane: number): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T, lane);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, (_, lane) => runLane(lane)));
  if (failure) throw failure.err;
  return results;
}
