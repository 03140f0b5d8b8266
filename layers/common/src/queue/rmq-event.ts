/**
 * Amazon MQ for RabbitMQ → Lambda event, as delivered by the AWS event source mapping.
 *
 * `@types/aws-lambda` has no type for it, so it is declared here, with no imports: the local
 * bridge (@collect/offline-rabbitmq) builds it and the consumers read it.
 *
 * Shape taken from the AWS Lambda docs' example event ("Using Lambda with Amazon MQ"): absent AMQP
 * properties are `null` (not omitted), the body is base64 in `data`, and the broker's Java client
 * serialises string header values as `{ bytes: number[] }` (UTF-8 octets) while numbers and booleans
 * stay plain JSON values.
 */

/** A header value as the event source mapping serialises it. */
export type RabbitMqHeaderValue =
  | string
  | number
  | boolean
  | null
  | RabbitMqBytes
  | RabbitMqHeaderValue[]
  | { [key: string]: RabbitMqHeaderValue };

/** A string or byte-array header value: its raw octets (decode strings as UTF-8). */
export interface RabbitMqBytes {
  bytes: number[];
}

/** The AMQP 0-9-1 basic properties of one message; `null` where the publisher did not set one. */
export interface RabbitMqBasicProperties {
  contentType: string | null;
  contentEncoding: string | null;
  headers: Record<string, RabbitMqHeaderValue> | null;
  deliveryMode: number | null;
  priority: number | null;
  correlationId: string | null;
  replyTo: string | null;
  expiration: string | null;
  messageId: string | null;
  /** Formatted like `"Jan 1, 1970, 12:33:41 AM"` (UTC), as AWS sends it; `null` if unset. */
  timestamp: string | null;
  type: string | null;
  userId: string | null;
  appId: string | null;
  clusterId: string | null;
  /** Body length in bytes (before base64). */
  bodySize: number;
}

/** One message of a batch. */
export interface RabbitMqMessage {
  basicProperties: RabbitMqBasicProperties;
  redelivered: boolean;
  /** The message body, base64-encoded. */
  data: string;
}

/** The event a function with a `rabbitmq` event source receives. */
export interface RabbitMqEvent {
  eventSource: 'aws:rmq';
  /** The broker ARN of the event source mapping. */
  eventSourceArn: string;
  /** Messages keyed by `"<queue>::<virtual host>"`, e.g. `"collect.import-chunk::/"`. */
  rmqMessagesByQueue: Record<string, RabbitMqMessage[]>;
}
