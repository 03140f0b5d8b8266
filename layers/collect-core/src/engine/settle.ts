import { shardIdOf } from '../model';
import type { ShardPatch, TaskDecision } from '../ports';
import { isTaskFinished, nextTaskState, type TaskState, taskEventFromShards } from '../states';
import type { EngineDeps } from './deps';

/**
 * Brings a task's state in line with its shards (DESIGN §4): PAUSED once none runs, RUNNING when
 * one is queued again, and a final state once all settled. A final state is reached in three
 * idempotent steps, so any worker (or a replay after a crash) may run this again:
 * 1. `lifecycle.finishing` (a FULL run deletes what the source no longer has, …);
 * 2. the state, checked again under the task's lock;
 * 3. `lifecycle.finished` (the source is free, caches invalidated).
 * Returns the task's state afterwards.
 */
export async function settleTask<R>(deps: EngineDeps<R>, taskId: string): Promise<TaskState | undefined> {
  const task = await deps.tasks.getTask(taskId);
  if (!task) return undefined;
  if (isTaskFinished(task.state)) {
    // Its end's last step again (idempotent): a worker may have died before it was done.
    await deps.lifecycle.finished(task, task.state);
    return task.state;
  }
  const tally = await deps.tasks.tally(taskId);
  const event = taskEventFromShards({
    state: task.state,
    stopRequested: task.requested === 'STOP',
    pauseRequested: task.requested === 'PAUSE',
    sealed: task.sealed,
    tally,
  });
  if (!event) return task.state;
  const target = nextTaskState(task.state, event) as TaskState;
  const final = isTaskFinished(target);
  const why =
    target === 'FAILED' || target === 'PARTIALLY_COMPLETED' ? await failedShards(deps, taskId) : null;
  if (final) await deps.lifecycle.finishing(task, target);
  const outcome = await deps.tasks.withTask(
    taskId,
    (v): TaskDecision<{ state: TaskState; moved: boolean }> => {
      // Another settle moved it meanwhile (two shards ending together): that one records it.
      if (v.task.state !== task.state) return { result: { state: v.task.state, moved: false } };
      const again = taskEventFromShards({
        state: v.task.state,
        stopRequested: v.task.requested === 'STOP',
        pauseRequested: v.task.requested === 'PAUSE',
        sealed: v.task.sealed,
        tally: v.tally,
      });
      // Something changed in between (a retry, a resume): the next settle decides.
      if (again !== event) return { result: { state: v.task.state, moved: false } };
      // A pause asked is honoured once the task is PAUSED; a final state ends any control.
      return {
        result: { state: target, moved: true },
        task: {
          event,
          ...(final || target === 'PAUSED' ? { requested: null } : {}),
          // A task that failed by its shards says so (unless it has a reason of its own).
          ...(why && !v.task.lastError ? { lastError: why } : {}),
        },
      };
    },
  );
  const reached = outcome?.state;
  // Its end's last step, by whichever settle saw it final (idempotent, as above).
  if (reached && isTaskFinished(reached)) await deps.lifecycle.finished(task, reached);
  if (outcome?.moved) {
    await deps.events.record({
      taskId,
      level: target === 'COMPLETED' || target === 'PAUSED' || target === 'RUNNING' ? 'info' : 'warn',
      type: `task.${target.toLowerCase()}`,
      message: `task ${target.toLowerCase().replace('_', ' ')}`,
      data: { ...tally },
    });
  }
  return reached;
}

/**
 * Ends a task at once as FAILED (its credentials were rejected, say): unsettled shards not running
 * fail with it, running ones are asked to stop at their next page boundary.
 */
export async function failTask<R>(deps: EngineDeps<R>, taskId: string, error: string): Promise<void> {
  const task = await deps.tasks.getTask(taskId);
  if (!task || isTaskFinished(task.state)) return;
  await deps.lifecycle.finishing(task, 'FAILED');
  const failed = await deps.tasks.withTask(
    taskId,
    (v): TaskDecision<boolean> => {
      if (nextTaskState(v.task.state, 'fail') === undefined) return { result: false };
      const shards = v.shards.flatMap((s): (ShardPatch & { shardNo: number })[] => {
        if (s.state === 'RUNNING') return [{ shardNo: s.shardNo, requested: 'STOP' as const }];
        if (s.state === 'PENDING' || s.state === 'RETRYING' || s.state === 'PAUSED')
          return [{ shardNo: s.shardNo, event: 'fail' as const, lastError: error }];
        return [];
      });
      return { result: true, task: { event: 'fail', lastError: error, requested: null }, shards };
    },
    { withShards: true },
  );
  if (!failed) return;
  await deps.flags.bump(taskId);
  await deps.lifecycle.finished(task, 'FAILED');
  await deps.events.record({ taskId, level: 'error', type: 'task.failed', message: `task failed: ${error}` });
}

/** "2 of 5 shard(s) failed; s3: <its error>" (or "… stopped"), or null when none did. */
async function failedShards<R>(deps: EngineDeps<R>, taskId: string): Promise<string | null> {
  const shards = await deps.tasks.getShards(taskId);
  const failed = shards.filter((s) => s.state === 'FAILED');
  const first = failed[0];
  if (first)
    return `${failed.length} of ${shards.length} shard(s) failed; ${shardIdOf(first.shardNo)}: ${first.lastError ?? 'no error recorded'}`;
  const stopped = shards.filter((s) => s.state === 'STOPPED');
  if (stopped.length > 0)
    return `${stopped.length} of ${shards.length} shard(s) stopped: ${stopped.map((s) => shardIdOf(s.shardNo)).join(', ')}`;
  return null;
}
