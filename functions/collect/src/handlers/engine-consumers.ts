import { consumerHandler, type DeliveryMeta, logger, retryWhileUnavailable } from '@collect/common';
import { planTask, runShard } from '@collect/core';
import { engineMessageSchema, toPlanMessage } from '../adapters/shard-queue.rabbitmq';
import { applyChunk, importQueueMessageSchema } from '../app/apply-chunk';
import { getServices, type Services } from '../composition';
import { loadConfig } from '../config';

/** Stop starting pages this long before the invocation's timeout. */
const TIMEOUT_MARGIN_MS = 30_000;

/**
 * Runs `work` with the container's services. Store outages are waited out inside the invocation
 * (up to WORKER_UNAVAILABLE_BUDGET_MS; every step of the engine replays safely), so an outage
 * does not spend the message's deliveries; past that the message goes back to RabbitMQ. Source
 * and other failures are the engine's: retried through delay queues, or recorded.
 */
async function withServices(
  taskId: string,
  meta: DeliveryMeta,
  work: (s: Services, deadline: number) => Promise<unknown>,
): Promise<void> {
  const config = loadConfig();
  const onRetry = (err: unknown, attempt: number) =>
    logger({ taskId }).warn({ err, attempt }, 'a store is unavailable; waiting');
  const s = await retryWhileUnavailable(getServices, config.WORKER_UNAVAILABLE_BUDGET_MS, onRetry);
  await retryWhileUnavailable(
    () => work(s, Date.now() + Math.min(config.SHARD_TIME_BUDGET_MS, meta.remainingMs() - TIMEOUT_MARGIN_MS)),
    config.WORKER_UNAVAILABLE_BUDGET_MS,
    onRetry,
  );
}

/** Runs a collection shard page by page (the queue of its collector version, `<type>@<version>`). */
export const runShardHandler = consumerHandler(engineMessageSchema, (msg, meta) =>
  withServices(msg.taskId, meta, (s, deadline) => runShard(s.engine, msg, { deadline })),
);

/** Plans a task (queue `plan`): lists what the collector lists up front, creates and queues the shards. */
export const planHandler = consumerHandler(engineMessageSchema, (msg, meta) =>
  withServices(msg.taskId, meta, (s) => planTask(s.engine, toPlanMessage(msg))),
);

/**
 * Applies an import shard (queue `import-chunk`): the message the import published with its
 * chunk, or one the engine queued again (resume, retry) with the chunk the shard kept.
 */
export const importChunkHandler = consumerHandler(importQueueMessageSchema, (msg, meta) =>
  withServices(msg.taskId, meta, (s, deadline) => applyChunk(s, msg, deadline)),
);
