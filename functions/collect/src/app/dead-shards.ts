import {
  type Config,
  decodeMessage,
  logger,
  type OutgoingMessage,
  publishConfirmed,
  type RabbitMqEvent,
  retryWhileUnavailable,
  topology,
} from '@collect/common';
import type { ConfirmChannel } from 'amqplib';
import { type ImportChunkMessage, importChunkMessageSchema } from '../schemas';
import { failChunk } from './apply-chunk';
import type { ChunkDeps } from './chunk-deps';

type DeadDeps = ChunkDeps & { config: Config; channel: () => Promise<ConfirmChannel> };

/**
 * Shard messages RabbitMQ dead-lettered. The worker records a shard FAILED on its last delivery,
 * but a message can die without ever reaching it (the event source could not invoke the
 * function, say) or with the worker dying each time: its shard would stay unsettled and its
 * task would hold the source until IMPORT_STALE_SECONDS. So each dead message's shard is
 * recorded FAILED here (a no-op if it already settled), its task settles, and the message is
 * moved, byte for byte, to the `.parked` queue, where it stays for inspection or a later retry.
 * A message that is not a shard is parked as it is. Nothing here fails permanently: a message on
 * the dead queue must never loop.
 */
export async function recordDeadShards(deps: DeadDeps, event: RabbitMqEvent): Promise<number> {
  const t = topology(deps.config.AMQP_PREFIX);
  let parked = 0;
  for (const messages of Object.values(event.rmqMessagesByQueue ?? {})) {
    for (const m of messages) {
      const body = Buffer.from(m.data, 'base64');
      const props = m.basicProperties;
      const messageId = props?.messageId ?? undefined;
      const log = logger({ messageId });
      let shard: ImportChunkMessage | undefined;
      try {
        shard = decodeMessage(importChunkMessageSchema, m, `dead message ${messageId}`);
      } catch (err) {
        log.warn({ err }, 'a dead message that is not a shard; parking it as it is');
      }
      if (shard) {
        const dead = shard;
        const reason = 'dead-lettered: its deliveries ran out before it was applied';
        await retryWhileUnavailable(
          () => failChunk(deps, dead, reason),
          deps.config.WORKER_UNAVAILABLE_BUDGET_MS,
        ).catch((err) => log.error({ err }, 'could not record a dead message; parking it anyway'));
      }
      const outgoing: OutgoingMessage = {
        routingKey: t.parkedQueue('import-chunk'),
        messageId: messageId ?? `dead-${Date.now()}`,
        body,
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
