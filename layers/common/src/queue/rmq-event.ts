/**
 * The Lambda event for an Amazon MQ for RabbitMQ event source (`eventSource: "aws:rmq"`).
 * `@types/aws-lambda` has no type for it. Keys of `rmqMessagesByQueue` are `<queue>::<vhost>`.
 */
export interface RabbitMqEvent {
  eventSource: 'aws:rmq';
  eventSourceArn: string;
  rmqMessagesByQueue: Record<string, RabbitMqMessage[]>;
}

export interface RabbitMqMessage {
  basicProperties: {
    contentType?: string | null;
    contentEncoding?: string | null;
    headers?: Record<string, unknown> | null;
    deliveryMode?: number | null;
    priority?: number | null;
    correlationId?: string | null;
    replyTo?: string | null;
    expiration?: string | null;
    messageId?: string | null;
    timestamp?: string | number | null;
    type?: string | null;
    userId?: string | null;
    appId?: string | null;
    clusterId?: string | null;
    bodySize?: number;
  };
  redelivered: boolean;
  /** The message body, base64. */
  data: string;
}
