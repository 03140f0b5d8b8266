import type { ShardDecision } from '../ports';
import type { EngineDeps } from './deps';

/**
 * Hands back to their queues the shards RUNNING that no worker holds any more: RUNNING with no
 * change for `olderThanMs`, longer than any invocation of a shard lasts (its function's timeout
 * ends it; set the threshold above that). Normally a dead worker's message comes back from
 * RabbitMQ and is claimed again, but a message can still be lost (a broker that loses a queue's
 * contents, a consumer acking by mistake), and then its shard would hold its task, and its
 * source, for ever.
 *
 * Each is handed back as a time-budget release is: PENDING with a new generation and message
 * (push shards with the page they keep), only if nothing changed meanwhile (same epoch, generation
 * and pages). If its worker was alive after all, its next commit finds the shard taken (epoch
 * fencing) and stops: the page it was on is done again, never twice.
 *
 * @returns the shards handed back (`taskId#shardNo`)
 */
export async function requeueStalledShards<R>(
  deps: EngineDeps<R>,
  olderThanMs: number,
  limit = 100,
): Promise<string[]> {
  const requeued: string[] = [];
  for (const stalled of await deps.tasks.stalledShards(olderThanMs, limit)) {
    const task = await deps.tasks.getTask(stalled.taskId);
    if (!task) continue;
    const route = deps.collectorOf(task).route;
    const gen = stalled.gen + 1;
    const done = await deps.tasks.withShard(stalled.taskId, stalled.shardNo, (v): ShardDecision<boolean> => {
      const s = v.shard;
      if (
        s.state !== 'RUNNING' ||
        s.epoch !== stalled.epoch ||
        s.gen !== stalled.gen ||
        s.pages !== stalled.pages
      )
        return { result: false };
      return {
        result: true,
        patch: { event: 'release', gen },
        dispatch: [
          { route, message: { taskId: s.taskId, shardNo: s.shardNo, gen }, withStoredPayload: true },
        ],
      };
    });
    if (!done) continue;
    requeued.push(`${stalled.taskId}#${stalled.shardNo}`);
    await deps.events.record({
      taskId: stalled.taskId,
      shardNo: stalled.shardNo,
      level: 'warn',
      type: 'shard.stalled',
      message: `no worker holds the shard (RUNNING, unchanged for over ${Math.round(olderThanMs / 1000)} s): queued again`,
      data: { epoch: stalled.epoch, gen, pages: stalled.pages },
    });
  }
  return requeued;
}
