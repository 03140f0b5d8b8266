import { inTransaction } from '@collect/common';
import { isTaskFinished, settleTask } from '@collect/core';
import type { Config } from '../config';
import type { ChunkDeps } from './chunk-deps';

/**
 * Fails the shards of a task whose messages died with the API process that recorded them (it
 * stopped between its MySQL commit and RabbitMQ's confirm; see TaskStore.failLost), then settles
 * the task as any failed shard would: PARTIALLY_COMPLETED or FAILED, never COMPLETED, so a FULL
 * import with a lost part deletes nothing.
 *
 * An import in parts that lost a part cannot be completed either: its ids are taken and its
 * nodes are not coming. It ends FAILED at once and frees its source, so the next part or the
 * commit gets 409 and the client opens a new import instead of committing a partial tree.
 *
 * Runs when the task is read, before a part or commit is taken, and (through the takeover in
 * takeSource) when another import wants the source; the scheduler has no sweeper yet.
 */
export async function failLostShards(deps: ChunkDeps & { config: Config }, taskId: string): Promise<number> {
  const after = deps.config.IMPORT_ENQUEUE_TIMEOUT_SECONDS;
  const failed = await inTransaction(deps.db, async (conn) => {
    const lost = await deps.tasks.failLost(conn, taskId, after);
    if (lost === 0) return 0;
    const task = await deps.tasks.get(taskId, conn, true);
    if (task && !task.sealed && !isTaskFinished(task.state)) {
      await deps.tasks.setState(
        taskId,
        'FAILED',
        `a part was lost (${lost} shard(s) never queued: the API stopped before RabbitMQ confirmed them); open a new import`,
        conn,
      );
      await deps.trees.endImport(conn, task.tenantId, task.source, taskId);
    }
    return lost;
  });
  if (failed === 0) return 0;
  await deps.events.record({
    taskId,
    level: 'error',
    message: `${failed} shard(s) never queued: the API stopped before RabbitMQ confirmed them`,
  });
  await settleTask(deps.engine, taskId);
  return failed;
}
