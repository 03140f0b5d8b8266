import {
  decodeMessage,
  isCollectorRoute,
  logger,
  type OutgoingMessage,
  publishConfirmed,
  type QueueName,
  type RabbitMqEvent,
  type RabbitMqMessage,
  retryWhileUnavailable,
  type Topology,
  topology,
} from '@collect/common';
import { abandonMessage, type EngineDeps } from '@collect/core';
import type { ConfirmChannel } from 'amqplib';
import type { TreeWrite } from '../adapters/page-stores';
import { engineMessageSchema } from '../adapters/shard-queue.rabbitmq';
import type { Config } from '../config';
import { importQueueMessageSchema, importShardMessage } from './apply-chunk';
import type { ChunkDeps } from './chunk-deps';

type DeadDeps = ChunkDeps & {
  config: Config;
  channel: () => Promise<ConfirmChannel>;
  engine: EngineDeps<TreeWrite>;
};

const REASON = 'dead-lettered: its deliveries ran out before it was applied';

/** The dead queues' consumers: the import's, the planner's, and the collector versions' (one for all). */
export type DeadQueueKind = 'import-chunk' | 'plan' | 'collector';

/** What a dead message of each kind of queue means: the failure to record before it is parked. */
const recorders: Record<DeadQueueKind, (deps: DeadDeps, m: RabbitMqMessage, what: string) => Promise<void>> =
  {
    'import-chunk': async (deps, m, what) => {
      await abandonMessage(
        deps.engine,
        importShardMessage(decodeMessage(importQueueMessageSchema, m, what)),
        REASON,
      );
    },
    plan: async (deps, m, what) => {
      await abandonMessage(deps.engine, decodeMessage(engineMessageSchema, m, what), REASON);
    },
    collector: async (deps, m, what) => {
      await abandonMessage(deps.engine, decodeMessage(engineMessageSchema, m, what), REASON);
    },
  };

/**
 * The collector route whose dead queue a message came from: the event names the queue
 * (`<prefix>.<type>@<version>.dead::<vhost>`), else RabbitMQ's `x-first-death-queue` header does.
 */
function collectorRouteOf(t: Topology, eventQueue: string, m: RabbitMqMessage): QueueName | undefined {
  for (const q of [eventQueue.split('::')[0], m.basicProperties?.headers?.['x-first-death-queue']]) {
    if (typeof q !== 'string') continue;
    const prefix = `${t.exchange}.`;
    const name = q.startsWith(prefix) ? q.slice(prefix.length).replace(/\.dead$/, '') : '';
    if (isCollectorRoute(name)) return name;
  }
  return undefined;
}

/**
 * Messages RabbitMQ dead-lettered from `queue`. A worker records its own failures, but a message
 * can die without ever reaching it (the event source could not invoke the function, say) or with
 * the worker dying each time: its shard would stay unsettled and hold its task (and source). So
 * each dead message's shard is recorded FAILED here (a no-op if it already settled; a plan
 * message fails its unplanned task), its task settles, and the message is moved, byte for byte,
 * to the `.parked` queue, where it stays for inspection or a later retry. A message that cannot
 * be read is parked as it is. Nothing here fails permanently: a dead message must never loop.
 */
export async function recordDeadShards(
  deps: DeadDeps,
  event: RabbitMqEvent,
  kind: DeadQueueKind = 'import-chunk',
): Promise<number> {
  const t = topology(deps.config.AMQP_PREFIX);
  const record = recorders[kind];
  let parked = 0;
  for (const [eventQueue, messages] of Object.entries(event.rmqMessagesByQueue ?? {})) {
    for (const m of messages) {
      const props = m.basicProperties;
      const messageId = props?.messageId ?? undefined;
      const queue = kind === 'collector' ? collectorRouteOf(t, eventQueue, m) : kind;
      // Thrown, the message stays on its dead queue; after its deliveries RabbitMQ parks it.
      if (!queue) throw new Error(`dead message ${messageId} names no collector queue (${eventQueue})`);
      const log = logger({ messageId, queue });
      await retryWhileUnavailable(
        () => record(deps, m, `dead message ${messageId}`),
        deps.config.WORKER_UNAVAILABLE_BUDGET_MS,
      ).catch((err) => log.error({ err }, 'could not record a dead message; parking it anyway'));
      const outgoing: OutgoingMessage = {
        routingKey: t.parkedQueue(queue),
        messageId: messageId ?? `dead-${Date.now()}`,
        body: Buffer.from(m.data, 'base64'),
        ...(props?.contentEncoding ? { contentEncoding: props.contentEncoding } : {}),
        headers: { ...(props?.headers ?? {}), 'x-parked-at': new Date().toISOString() },
      };
      // The default exchange routes by queue name.
      await publishConfirmed(await deps.channel(), '', [outgoing]);
      parked += 1;
    }
  }
  return parked;
}
