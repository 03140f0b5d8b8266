import { type Config, inTransaction } from '@collect/common';
import type { ChunkDeps } from './chunk-deps';
import { finalizeIfSettled } from './finalize-import';

/**
 * Fails the shards of a task whose messages died with the API process that recorded them (it
 * stopped between its MySQL commit and RabbitMQ's confirm; see TaskStore.failLost), then settles
 * the task as any failed shard would: PARTIALLY_COMPLETED or FAILED, never COMPLETED, so a FULL
 * import with a lost part deletes nothing. Runs when the task is read; until the scheduler has a
 * sweeper, that is what moves such a task on (another import of its source also takes over).
 */
export async function failLostShards(deps: ChunkDeps & { config: Config }, taskId: string): Promise<number> {
  const after = deps.config.IMPORT_ENQUEUE_TIMEOUT_SECONDS;
  const failed = await inTransaction(deps.db, (conn) => deps.tasks.failLost(conn, taskId, after));
  if (failed === 0) return 0;
  await deps.events.record({
    taskId,
    level: 'error',
    message: `${failed} shard(s) never queued: the API stopped before RabbitMQ confirmed them`,
  });
  await finalizeIfSettled(deps, taskId);
  return failed;
}
