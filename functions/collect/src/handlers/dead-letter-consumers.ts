import type { RabbitMqEvent } from '@collect/common';
import middy from '@middy/core';
import { type DeadQueueKind, recordDeadShards } from '../app/dead-shards';
import { getServices } from '../composition';

/**
 * RabbitMQ consumers of the dead-letter queues: each records its dead messages' shards (or
 * unplanned tasks) FAILED and parks the messages (see recordDeadShards). One fails only if a
 * message cannot be parked, in which case RabbitMQ keeps it on the dead queue and delivers it again.
 */
const deadLetters = (kind: DeadQueueKind) =>
  middy<RabbitMqEvent, { parked: number }>().handler(async (event) => ({
    parked: await recordDeadShards(await getServices(), event, kind),
  }));

export const importChunkDead = deadLetters('import-chunk');
export const planDead = deadLetters('plan');
/** Every collector version's dead queue (`<type>@<version>.dead`), one function for all. */
export const runShardDead = deadLetters('collector');
