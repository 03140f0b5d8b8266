import { notFound } from '@collect/common';
import type { TaskStore } from '../adapters/task-store.mysql';

/** A task with its progress and the state of every shard. Tasks belong to their tenant. */
export async function readTask(tasks: TaskStore, tenantId: string, id: string): Promise<unknown> {
  const task = await tasks.get(id);
  if (!task || task.tenantId !== tenantId) throw notFound(`task "${id}"`);
  const shards = await tasks.shards(id);
  const byState: Record<string, number> = {};
  for (const s of shards) byState[s.state] = (byState[s.state] ?? 0) + 1;
  return {
    id: task.id,
    kind: task.kind,
    source: task.source,
    mode: task.mode,
    state: task.state,
    treeVersion: task.treeVersion,
    progress: {
      totalNodes: task.totalNodes,
      doneNodes: task.doneNodes,
      failedNodes: task.failedNodes,
      changedNodes: task.changedNodes,
      deletedNodes: task.deletedNodes,
      totalShards: task.totalShards,
      doneShards: task.doneShards,
      failedShards: task.failedShards,
      percent:
        task.totalShards === 0
          ? 100
          : Math.floor(((task.doneShards + task.failedShards) * 100) / task.totalShards),
    },
    shardsByState: byState,
    shards,
    lastError: task.lastError,
    createdAt: task.createdAt,
    startedAt: task.startedAt,
    finishedAt: task.finishedAt,
  };
}
