import type { PlanMessage } from '../model';
import type { NewShard } from '../ports';
import { decideRetry } from '../retry-policy';
import { redact, secretValues } from '../secrets';
import { isTaskFinished } from '../states';
import type { EngineDeps } from './deps';
import { failTask, settleTask } from './settle';

/** Reasons of refused records kept in the log, per plan. */
const MAX_EXAMPLES = 20;

export type PlanOutcome = 'planned' | 'skipped' | 'deferred' | 'retrying' | 'failed';

/**
 * Plans a task (one delivery of its plan message): asks its collector for the records it lists
 * up front (written at once) and the shards' specs, then creates the shards and queues them in
 * one unit. A task paused or stopped before planning is not planned (no source request); one
 * paused while planning gets its shards PAUSED. A replay plans again from the start: records are
 * upserts and shards are only created once.
 */
export async function planTask<R>(deps: EngineDeps<R>, msg: PlanMessage): Promise<PlanOutcome> {
  // The plan message is published inside the unit that creates the task, before its commit: a
  // plain read may not see the task yet, a unit (which locks it) waits for that commit.
  const known =
    (await deps.tasks.getTask(msg.taskId)) ??
    (await deps.tasks.withTask(msg.taskId, (v) => ({ result: v.task })));
  if (!known || known.sealed || isTaskFinished(known.state)) return 'skipped';
  const early = (msg.notBefore ?? 0) - deps.clock.now();
  if (early > 100) {
    await deps.queue.publishPlan(msg, early);
    return 'deferred';
  }
  const start = await deps.tasks.withTask(msg.taskId, (v) => {
    if (v.task.sealed || isTaskFinished(v.task.state)) return { result: 'skip' as const };
    if (v.task.requested === 'STOP') return { result: 'stop' as const, task: { sealed: true } };
    if (v.task.state === 'PAUSED') return { result: 'skip' as const };
    return {
      result: 'go' as const,
      task: {
        ...(v.task.state === 'CREATED' ? { event: 'start' as const } : {}),
        // The first plan's start is kept: a replay must not move the next watermark later.
        startedReadingAt: v.task.startedReadingAt ?? new Date(deps.clock.now()).toISOString(),
      },
    };
  });
  if (start === 'stop') {
    await settleTask(deps, msg.taskId);
    return 'skipped';
  }
  if (start !== 'go') return 'skipped';
  const task = (await deps.tasks.getTask(msg.taskId)) ?? known;
  const collector = deps.collectorOf(task);
  const settings = collector.settings.safeParse(task.settings);
  if (!settings.success) {
    await failTask(deps, task.id, `the task's settings no longer fit collector ${collector.type}`);
    return 'failed';
  }
  const specs: unknown[] = [];
  let planned = 0;
  let rejected = 0;
  const examples: string[] = [];
  try {
    const throttle = async () => {
      while (task.strategy.ratePerSecond > 0) {
        const wait = await deps.limiter.reserve(`task/${task.id}`, task.strategy.ratePerSecond);
        if (wait <= 0) return;
        await deps.clock.sleep(wait);
      }
    };
    for await (const step of collector.plan({
      task,
      settings: settings.data,
      strategy: task.strategy,
      throttle,
    })) {
      if ('records' in step) {
        await deps.pages.writePlanned(task, step.records);
        planned += step.records.length;
        rejected += step.rejected?.length ?? 0;
        if (examples.length < MAX_EXAMPLES)
          examples.push(...(step.rejected ?? []).slice(0, MAX_EXAMPLES - examples.length));
      } else specs.push(step.shard);
    }
  } catch (err) {
    const classified = deps.classify(err);
    if (classified.kind === 'unavailable') throw err;
    // What is stored and shown never carries a secret setting, whatever the source echoed.
    const failure = {
      ...classified,
      message: redact(classified.message, secretValues(collector, task.settings)),
    };
    const d = decideRetry(task.strategy.retry, msg.attempt, failure, deps.random);
    if (d.action === 'retry') {
      await deps.queue.publishPlan(
        { taskId: task.id, attempt: d.attempts, notBefore: deps.clock.now() + d.delayMs },
        d.delayMs,
      );
      await deps.events.record({
        taskId: task.id,
        level: 'warn',
        type: 'task.plan-retry',
        message: `planning failed (${failure.kind}): ${failure.message}; retry scheduled`,
        data: { attempt: d.attempts, delayMs: d.delayMs },
      });
      return 'retrying';
    }
    await failTask(deps, task.id, failure.message);
    return 'failed';
  }
  const created = await deps.tasks.withTask(msg.taskId, (v) => {
    if (v.task.sealed || isTaskFinished(v.task.state)) return { result: 0 };
    const paused = v.task.requested === 'PAUSE';
    const stopped = v.task.requested === 'STOP';
    const newShards: NewShard[] = stopped
      ? []
      : specs.map((spec, shardNo) => ({ shardNo, state: paused ? 'PAUSED' : 'PENDING', spec }));
    const dispatch = paused
      ? []
      : newShards.map((s) => ({
          route: collector.route,
          message: { taskId: task.id, shardNo: s.shardNo, gen: 0 },
        }));
    return { result: newShards.length, task: { sealed: true }, newShards, dispatch };
  });
  await deps.events.record({
    taskId: task.id,
    level: 'info',
    type: 'task.planned',
    message: `planned ${created ?? 0} shard(s) after listing ${planned} record(s)`,
    data: { shards: created ?? 0, plannedRecords: planned },
  });
  if (rejected > 0)
    await deps.events.record({
      taskId: task.id,
      level: 'warn',
      type: 'task.plan-rejected',
      message: `${rejected} record(s) listed while planning were refused`,
      data: { rejected, examples },
    });
  await settleTask(deps, task.id);
  return 'planned';
}
