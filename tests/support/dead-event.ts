import type { RabbitMqEvent } from '@collect/common';

/** The event a dead-letter queue's consumer gets for one message RabbitMQ gave up on. */
export const deadEvent = (
  m: {
    content: Buffer;
    properties: { messageId?: string; contentEncoding?: string };
  },
  /** The dead queue it came from (the event's key names it). */
  queue = 'dead',
) =>
  ({
    eventSource: 'aws:rmq',
    rmqMessagesByQueue: {
      [`${queue}::/`]: [
        {
          basicProperties: {
            messageId: m.properties.messageId ?? null,
            contentEncoding: m.properties.contentEncoding ?? null,
            headers: { 'x-delivery-count': 5 },
          },
          redelivered: true,
          data: m.content.toString('base64'),
        },
      ],
    },
  }) as unknown as RabbitMqEvent;
