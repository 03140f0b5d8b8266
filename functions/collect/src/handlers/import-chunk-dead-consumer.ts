import type { RabbitMqEvent } from '@collect/common';
import middy from '@middy/core';
import { recordDeadShards } from '../app/dead-shards';
import { getServices } from '../composition';

/**
 * RabbitMQ consumer of the import shards' dead-letter queue: records each dead shard FAILED and
 * parks its message (see recordDeadShards). Fails only if the message cannot be parked, in
 * which case RabbitMQ keeps it on the dead queue and delivers it again.
 */
export const handler = middy<RabbitMqEvent, { parked: number }>().handler(async (event) => ({
  parked: await recordDeadShards(await getServices(), event),
}));
