import { inTransaction } from '@collect/common';
import { emptyTally, isTaskFinished, nextTaskState, taskEventFromShards } from '@collect/core';
import type { ChunkDeps } from './chunk-deps';

/**
 * Settles a task once all its shards are settled. Every step is idempotent, so any delivery
 * (including a replay after a crash half-way through) may run it again:
 * 1. FULL and all shards completed: soft-delete what the new tree lacks, mark the version applied;
 * 2. write the `tree_snapshot` of the version;
 * 3. set the task's final state; invalidate the cache; forget the parts' staging rows.
 * A task still receiving parts (not sealed) never settles.
 */
export async function finalizeIfSettled(deps: ChunkDeps, taskId: string): Promise<void> {
  const task = await deps.tasks.get(taskId);
  if (!task?.sealed || isTaskFinished(task.state) || task.treeVersion === null) return;
  const tally = {
    ...emptyTally(),
    COMPLETED: task.doneShards,
    FAILED: task.failedShards,
    PENDING: task.totalShards - task.doneShards - task.failedShards,
  };
  // An import settles from CREATED too (a commit without parts): judge it as a running task.
  const event = taskEventFromShards({ state: 'RUNNING', stopRequested: false, sealed: true, tally });
  const final = event && nextTaskState('RUNNING', event);
  if (final === undefined || !isTaskFinished(final)) return;
  const version = task.treeVersion;

  if (final === 'COMPLETED') {
    await inTransaction(deps.db, async (conn) => {
      const locked = await deps.tasks.get(taskId, conn, true);
      if (!locked || isTaskFinished(locked.state)) return;
      if (task.mode === 'FULL') {
        const deleted = await deps.trees.softDeleteUnseen(conn, task.tenantId, task.source, version);
        if (deleted > 0) await deps.tasks.addDeleted(conn, taskId, deleted);
      }
      await deps.trees.markApplied(conn, task.tenantId, task.source, version);
    });
    await deps.snapshots.write(task.tenantId, task.source, version, taskId, task.mode);
  }
  await inTransaction(deps.db, async (conn) => {
    const locked = await deps.tasks.get(taskId, conn, true);
    // A task already ended (say FAILED when superseded) keeps its state until a retry reopens it.
    if (!locked || isTaskFinished(locked.state)) return;
    await deps.tasks.setState(taskId, final, null, conn);
    await deps.trees.endImport(conn, task.tenantId, task.source, taskId);
  });
  await deps.cache.invalidate(task.tenantId, task.source);
  await deps.staging.clear(taskId);
  const after = await deps.tasks.get(taskId);
  await deps.events.record({
    taskId,
    level: final === 'COMPLETED' ? 'info' : 'warn',
    message: `task ${final.toLowerCase()}`,
    data: {
      doneNodes: after?.doneNodes,
      changedNodes: after?.changedNodes,
      deletedNodes: after?.deletedNodes,
      failedNodes: after?.failedNodes,
    },
  });
}
