import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { NonRetryableError } from '../errors';
import { logger } from '../logger';
import { decodeBody } from './body-encoding';
import type { RabbitMqEvent, RabbitMqMessage } from './rmq-event';

export interface DeliveryMeta {
  queue: string;
  messageId: string | undefined;
  redelivered: boolean;
  /** How many times the broker delivered this message before (quorum queues count it). */
  deliveryCount: number;
  /** Time left in the invocation (Lambda's), in ms. */
  remainingMs(): number;
}

/**
 * The consumer stack: decodes and validates every message of an Amazon MQ batch, then calls `fn`
 * for each in order. Any failure fails the invocation, so the event source (or the local bridge)
 * hands the batch back to RabbitMQ, which redelivers it until the delivery limit dead-letters it.
 */
/**
 * The payload of one Amazon MQ message: base64, then its content encoding undone, JSON, checked
 * against `schema`. Anything that cannot be is a NonRetryableError naming `what`.
 */
export function decodeMessage<S extends z.ZodType>(schema: S, m: RabbitMqMessage, what: string): z.infer<S> {
  const text = decodeBody(Buffer.from(m.data, 'base64'), m.basicProperties?.contentEncoding, what);
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch {
    throw new NonRetryableError('INVALID_MESSAGE', `${what} is not JSON`);
  }
  const parsed = schema.safeParse(decoded);
  if (!parsed.success) {
    throw new NonRetryableError(
      'INVALID_MESSAGE',
      `${what} does not match its schema: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

export function consumerHandler<S extends z.ZodType>(
  schema: S,
  fn: (message: z.infer<S>, meta: DeliveryMeta) => Promise<void>,
): (event: RabbitMqEvent, context: Context) => Promise<{ processed: number }> {
  const handler = middy<RabbitMqEvent, { processed: number }>().handler(async (event, context) => {
    let processed = 0;
    for (const [queueKey, messages] of Object.entries(event.rmqMessagesByQueue ?? {})) {
      const queue = queueKey.split('::')[0] ?? queueKey;
      for (const m of messages) {
        const meta: DeliveryMeta = {
          queue,
          messageId: m.basicProperties?.messageId ?? undefined,
          redelivered: Boolean(m.redelivered),
          deliveryCount: Number(m.basicProperties?.headers?.['x-delivery-count'] ?? 0) || 0,
          remainingMs: () =>
            typeof context?.getRemainingTimeInMillis === 'function'
              ? context.getRemainingTimeInMillis()
              : 900_000,
        };
        await fn(decodeMessage(schema, m, `message ${meta.messageId} on ${queue}`), meta);
        processed += 1;
      }
    }
    return { processed };
  });
  handler.use({
    onError: (request) => {
      logger().error({ err: request.error }, 'consumer invocation failed');
    },
  });
  return handler as unknown as (event: RabbitMqEvent, context: Context) => Promise<{ processed: number }>;
}
