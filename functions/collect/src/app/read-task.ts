import { notFound } from '@collect/common';
import { isTaskFinished, shardIdOf } from '@collect/core';
import type { Config } from '../config';
import { isTaskId } from '../schemas';
import type { ChunkDeps } from './chunk-deps';
import { failLostShards } from './lost-shards';

/**
 * A task with its progress and the state of every shard. Tasks belong to their tenant. Shards
 * found lost on the way (see failLostShards) are failed first, so the answer is never a task
 * waiting forever for messages that will not come.
 */
export async function readTask(
  deps: ChunkDeps & { config: Config },
  tenantId: string,
  id: string,
): Promise<unknown> {
  let task = isTaskId(id) ? await deps.tasks.get(id) : undefined;
  if (!task || task.tenantId !== tenantId) throw notFound(`task "${id}"`);
  let shards = await deps.tasks.shards(id, deps.config.IMPORT_ENQUEUE_TIMEOUT_SECONDS);
  if (!isTaskFinished(task.state) && shards.some((s) => s.lost) && (await failLostShards(deps, id)) > 0) {
    task = (await deps.tasks.get(id)) ?? task;
    shards = await deps.tasks.shards(id);
  }
  // Shard counts come from the shards themselves: the engine moves their states (control,
  // retries, dead letters) and the task's row keeps the node counters its pages add.
  const byState: Record<string, number> = {};
  for (const s of shards) byState[s.state] = (byState[s.state] ?? 0) + 1;
  const doneShards = byState.COMPLETED ?? 0;
  const failedShards = byState.FAILED ?? 0;
  const failedNodes = shards.filter((s) => s.state === 'FAILED').reduce((n, s) => n + s.nodeCount, 0);
  return {
    id: task.id,
    kind: task.kind,
    source: task.source,
    mode: task.mode,
    state: task.state,
    requested: task.requested,
    collector: 'push-import',
    treeVersion: task.treeVersion,
    progress: {
      totalNodes: task.totalNodes,
      doneNodes: task.doneNodes,
      failedNodes,
      changedNodes: task.changedNodes,
      deletedNodes: task.deletedNodes,
      totalShards: task.totalShards,
      doneShards,
      failedShards,
      percent:
        task.totalShards === 0 ? 100 : Math.floor(((doneShards + failedShards) * 100) / task.totalShards),
    },
    shardsByState: byState,
    shards: shards.map(({ lost: _, ...s }) => ({ shardId: shardIdOf(s.shardNo), ...s })),
    lastError: task.lastError,
    createdAt: task.createdAt,
    startedAt: task.startedAt,
    finishedAt: task.finishedAt,
  };
}
