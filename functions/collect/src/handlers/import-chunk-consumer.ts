import { classifyFailure, consumerHandler, loadConfig, logger } from '@collect/common';
import { applyChunk, failChunk } from '../app/apply-chunk';
import { getServices } from '../composition';
import { importChunkMessageSchema } from '../schemas';

/**
 * RabbitMQ consumer for import shards. A failure is rethrown so the message comes back; on its
 * last allowed delivery (or a non-retryable error) the shard is first recorded as FAILED so the
 * task can settle, and the message then goes on to the dead-letter queue with its payload.
 */
export const handler = consumerHandler(importChunkMessageSchema, async (msg, meta) => {
  const s = await getServices();
  try {
    await applyChunk(s, msg);
  } catch (err) {
    const last =
      meta.deliveryCount >= loadConfig().AMQP_DELIVERY_LIMIT || classifyFailure(err) === 'non-retryable';
    logger({ taskId: msg.taskId, shardNo: msg.shardNo }).error(
      { err, deliveryCount: meta.deliveryCount, last },
      'shard failed',
    );
    if (last) await failChunk(s, msg, (err as Error).message ?? String(err)).catch(() => undefined);
    throw err;
  }
});
