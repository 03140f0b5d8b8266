import type { ShardMessage } from '../model';
import { isShardSettled, isTaskFinished } from '../states';
import type { EngineDeps } from './deps';
import { keepPayload } from './run-shard';
import { failTask, settleTask } from './settle';

export type DeadOutcome = 'failed' | 'unchanged';

/**
 * A message the broker gave up on: its deliveries ran out without the engine settling it (the
 * worker died on it each time, or could not be invoked at all). Its shard would otherwise stay
 * unsettled and keep its task open for ever, so the shard fails with `reason` (a push shard
 * keeps its page, so a retry can apply it) and the task settles. A plan message (shard number
 * -1) fails its task if it was never planned. A message that no longer owns its shard (a newer
 * one was queued) or whose shard or task already settled changes nothing.
 */
export async function abandonMessage<R>(
  deps: EngineDeps<R>,
  msg: ShardMessage,
  reason: string,
): Promise<DeadOutcome> {
  const task = await deps.tasks.getTask(msg.taskId);
  if (!task || isTaskFinished(task.state)) return 'unchanged';
  if (msg.shardNo < 0) {
    if (task.sealed) return 'unchanged';
    await failTask(deps, task.id, `planning ${reason}`);
    return 'failed';
  }
  const failed = await deps.tasks.withShard(msg.taskId, msg.shardNo, (v) => {
    if (msg.gen < v.shard.gen || isShardSettled(v.shard.state)) return { result: false };
    // A paused shard stays paused; a push shard keeps the page only this message had.
    if (v.shard.state === 'PAUSED') return { result: false, patch: keepPayload(v, msg) };
    return { result: true, patch: { event: 'fail' as const, lastError: reason, ...keepPayload(v, msg) } };
  });
  if (!failed) return 'unchanged';
  await deps.events.record({
    taskId: msg.taskId,
    shardNo: msg.shardNo,
    level: 'error',
    type: 'shard.failed',
    message: `shard failed: ${reason}`,
  });
  await settleTask(deps, msg.taskId);
  return 'failed';
}
