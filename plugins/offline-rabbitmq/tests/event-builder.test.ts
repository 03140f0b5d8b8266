import type { RabbitMqEvent } from '@collect/common/rmq-event';
import type { Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { buildRabbitMqEvent, convertHeaderValue, formatAwsTimestamp, queueKey } from '../src/event-builder';

function message(
  content: string,
  properties: Partial<Message['properties']> = {},
  redelivered = false,
): Message {
  const none = {
    contentType: undefined,
    contentEncoding: undefined,
    headers: undefined,
    deliveryMode: undefined,
    priority: undefined,
    correlationId: undefined,
    replyTo: undefined,
    expiration: undefined,
    messageId: undefined,
    timestamp: undefined,
    type: undefined,
    userId: undefined,
    appId: undefined,
    clusterId: undefined,
  };
  return {
    content: Buffer.from(content),
    fields: { deliveryTag: 1, redelivered, exchange: '', routingKey: 'q' },
    properties: { ...none, ...properties },
  };
}

const ARN = 'arn:aws:mq:us-west-2:112556298976:broker:test:b-9bcfa592-423a-4942-879d-eb284b418fc8';

describe('buildRabbitMqEvent', () => {
  it('reproduces the AWS documentation example', () => {
    const body = '{"timeout":0,"data":"CZrmf0Gw8Ov4bqLQxD4E"}';
    const event = buildRabbitMqEvent(ARN, 'test', '/', [
      message(body, {
        contentType: 'text/plain',
        headers: { header1: 'value1', header2: Buffer.from('value2'), numberInHeader: 10 },
        deliveryMode: 1,
        priority: 34,
        expiration: '60000',
        timestamp: 2021,
        userId: 'AIDACKCEVSQ6C2EXAMPLE',
      }),
    ]);
    const expected: RabbitMqEvent = {
      eventSource: 'aws:rmq',
      eventSourceArn: ARN,
      rmqMessagesByQueue: {
        'test::/': [
          {
            basicProperties: {
              contentType: 'text/plain',
              contentEncoding: null,
              headers: {
                header1: { bytes: [118, 97, 108, 117, 101, 49] },
                header2: { bytes: [118, 97, 108, 117, 101, 50] },
                numberInHeader: 10,
              },
              deliveryMode: 1,
              priority: 34,
              correlationId: null,
              replyTo: null,
              expiration: '60000',
              messageId: null,
              timestamp: 'Jan 1, 1970, 12:33:41 AM',
              type: null,
              userId: 'AIDACKCEVSQ6C2EXAMPLE',
              appId: null,
              clusterId: null,
              // The doc example says 80, which does not match its own 43-byte body.
              bodySize: 43,
            },
            redelivered: false,
            data: 'eyJ0aW1lb3V0IjowLCJkYXRhIjoiQ1pybWYwR3c4T3Y0YnFMUXhENEUifQ==',
          },
        ],
      },
    };
    expect(event).toEqual(expected);
  });

  it('keeps batch order, binary bodies and the redelivered flag; null headers when none', () => {
    const binary = message('');
    binary.content = Buffer.from([0, 255, 1]);
    const event = buildRabbitMqEvent(ARN, 'collect.import-chunk', 'tenant-a', [
      message('a', {}, true),
      binary,
    ]);
    const messages = event.rmqMessagesByQueue['collect.import-chunk::tenant-a'] ?? [];
    expect(messages.map((m) => m.data)).toEqual([Buffer.from('a').toString('base64'), 'AP8B']);
    expect(messages.map((m) => m.redelivered)).toEqual([true, false]);
    expect(messages[0]?.basicProperties.headers).toBeNull();
    expect(messages[1]?.basicProperties.bodySize).toBe(3);
  });

  it('uses the <queue>::<vhost> key', () => {
    expect(queueKey('q', '/')).toBe('q::/');
  });
});

describe('convertHeaderValue', () => {
  it('converts nested tables, arrays and amqplib tagged values', () => {
    expect(
      convertHeaderValue({
        'x-delivery-count': 2,
        flag: true,
        nothing: null,
        list: ['a', 1],
        'x-death': [{ count: 1, time: { '!': 'timestamp', value: 0 } }],
        price: { '!': 'decimal', value: { places: 2, digits: 1234 } },
      }),
    ).toEqual({
      'x-delivery-count': 2,
      flag: true,
      nothing: null,
      list: [{ bytes: [97] }, 1],
      'x-death': [{ count: 1, time: 'Jan 1, 1970, 12:00:00 AM' }],
      price: 12.34,
    });
  });
});

describe('formatAwsTimestamp', () => {
  it('formats like Gson in UTC, with a plain space before AM/PM', () => {
    expect(formatAwsTimestamp(Date.UTC(2024, 11, 31, 13, 5, 9))).toBe('Dec 31, 2024, 1:05:09 PM');
  });
});
