import type { RabbitMqEvent } from '@collect/common';

/** The event a dead-letter queue's consumer gets for one message RabbitMQ gave up on. */
export const deadEvent = (m: {
  content: Buffer;
  properties: { messageId?: string; contentEncoding?: string };
}) =>
  ({
    eventSource: 'aws:rmq',
    rmqMessagesByQueue: {
      'dead::/': [
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
