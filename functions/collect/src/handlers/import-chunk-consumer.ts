import { classifyFailure, consumerHandler, loadConfig, logger, retryWhileUnavailable } from '@collect/common';
import { applyChunk, failChunk } from '../app/apply-chunk';
import { getServices } from '../composition';
import { importChunkMessageSchema } from '../schemas';

/**
 * RabbitMQ consumer for import shards. A store that is briefly unreachable is waited out inside
 * the invocation (up to WORKER_UNAVAILABLE_BUDGET_MS; the shard is idempotent), so an outage
 * does not spend the message's deliveries. Any other failure is rethrown so the message comes
 * back; on its last allowed delivery (or a non-retryable error) the shard is first recorded as
 * FAILED so the task can settle, and the message then goes on to the dead-letter queue.
 */
export const handler = consumerHandler(importChunkMessageSchema, async (msg, meta) => {
  const config = loadConfig();
  const log = logger({ taskId: msg.taskId, shardNo: msg.shardNo });
  const onRetry = (err: unknown, attempt: number) =>
    log.warn({ err, attempt }, 'a store is unavailable; waiting');
  const s = await retryWhileUnavailable(getServices, config.WORKER_UNAVAILABLE_BUDGET_MS, onRetry);
  try {
    await retryWhileUnavailable(() => applyChunk(s, msg), config.WORKER_UNAVAILABLE_BUDGET_MS, onRetry);
  } catch (err) {
    const last = meta.deliveryCount >= config.AMQP_DELIVERY_LIMIT || classifyFailure(err) === 'non-retryable';
    log.error({ err, deliveryCount: meta.deliveryCount, last }, 'shard failed');
    if (last) await failChunk(s, msg, (err as Error).message ?? String(err)).catch(() => undefined);
    throw err;
  }
});
