import { consumerHandler, loadConfig, logger, retryWhileUnavailable } from '@collect/common';
import { planTask, runShard } from '@collect/core';
import { engineMessageSchema, toPlanMessage } from '../adapters/shard-queue.rabbitmq';
import { getServices } from '../composition';

/** Stop starting pages this long before the invocation's timeout. */
const TIMEOUT_MARGIN_MS = 30_000;

const onRetry = (taskId: string) => (err: unknown, attempt: number) =>
  logger({ taskId }).warn({ err, attempt }, 'a store is unavailable; waiting');

/**
 * Runs a shard (queue `run-shard`). Store outages are waited out inside the invocation (up to
 * WORKER_UNAVAILABLE_BUDGET_MS; every step replays safely); past that the message goes back to
 * RabbitMQ. Source failures are the engine's: retried through delay queues or recorded.
 */
export const runShardHandler = consumerHandler(engineMessageSchema, async (msg, meta) => {
  const config = loadConfig();
  const s = await retryWhileUnavailable(
    getServices,
    config.WORKER_UNAVAILABLE_BUDGET_MS,
    onRetry(msg.taskId),
  );
  await retryWhileUnavailable(
    () => {
      const deadline =
        Date.now() + Math.min(config.SHARD_TIME_BUDGET_MS, meta.remainingMs() - TIMEOUT_MARGIN_MS);
      return runShard(s.engine, msg, { deadline });
    },
    config.WORKER_UNAVAILABLE_BUDGET_MS,
    onRetry(msg.taskId),
  );
});

/** Plans a task (queue `plan`): lists what the collector lists up front, creates and queues the shards. */
export const planHandler = consumerHandler(engineMessageSchema, async (msg) => {
  const config = loadConfig();
  const s = await retryWhileUnavailable(
    getServices,
    config.WORKER_UNAVAILABLE_BUDGET_MS,
    onRetry(msg.taskId),
  );
  await retryWhileUnavailable(
    () => planTask(s.engine, toPlanMessage(msg)),
    config.WORKER_UNAVAILABLE_BUDGET_MS,
    onRetry(msg.taskId),
  );
});
