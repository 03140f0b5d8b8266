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

/** A shard's id is derived from its task and number, so a replayed plan names the same shards. */
export const shardId = (taskId: string, shardNo: number): string => `${taskId}#${shardNo}`;
