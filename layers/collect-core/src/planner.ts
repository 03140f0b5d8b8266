/**
 * Splits a stream of work items into shards of at most `size` items, lazily, so a planner never
 * needs more than one shard in memory.
 */
export function* chunk<T>(items: Iterable<T>, size: number): Generator<T[]> {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  let current: T[] = [];
  for (const item of items) {
    current.push(item);
    if (current.length === size) {
      yield current;
      current = [];
    }
  }
  if (current.length > 0) yield current;
}

/** Splits `items` into at most `parts` contiguous groups of near-equal size, none empty. */
export function split<T>(items: readonly T[], parts: number): T[][] {
  const n = Math.max(1, Math.min(parts, items.length));
  const out: T[][] = [];
  for (let i = 0; i < n; i += 1) {
    const from = Math.floor((i * items.length) / n);
    const to = Math.floor(((i + 1) * items.length) / n);
    if (to > from) out.push(items.slice(from, to));
  }
  return out;
}
