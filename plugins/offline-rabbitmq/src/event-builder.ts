import type {
  RabbitMqBasicProperties,
  RabbitMqEvent,
  RabbitMqHeaderValue,
  RabbitMqMessage,
} from '@collect/common/rmq-event';
import type { Message } from 'amqplib';

/**
 * The `rmqMessagesByQueue` key AWS uses: `"<queue>::<virtual host>"`.
 *
 * @param queue - queue name
 * @param vhost - virtual host, `/` for the default one
 */
export function queueKey(queue: string, vhost: string): string {
  return `${queue}::${vhost}`;
}

/**
 * Builds the Amazon MQ (RabbitMQ) Lambda event for one batch of messages of one queue.
 *
 * @param arn - broker ARN of the `rabbitmq` event (`eventSourceArn`)
 * @param queue - queue the messages came from
 * @param vhost - virtual host of that queue
 * @param messages - the batch, in delivery order
 */
export function buildRabbitMqEvent(
  arn: string,
  queue: string,
  vhost: string,
  messages: readonly Message[],
): RabbitMqEvent {
  return {
    eventSource: 'aws:rmq',
    eventSourceArn: arn,
    rmqMessagesByQueue: { [queueKey(queue, vhost)]: messages.map(toRabbitMqMessage) },
  };
}

/**
 * Converts one amqplib message to the event's message shape.
 *
 * @param message - a delivered message
 */
export function toRabbitMqMessage(message: Message): RabbitMqMessage {
  const p = message.properties;
  const basicProperties: RabbitMqBasicProperties = {
    contentType: str(p.contentType),
    contentEncoding: str(p.contentEncoding),
    headers: p.headers === undefined ? null : convertTable(p.headers),
    deliveryMode: num(p.deliveryMode),
    priority: num(p.priority),
    correlationId: str(p.correlationId),
    replyTo: str(p.replyTo),
    expiration: str(p.expiration),
    messageId: str(p.messageId),
    // AMQP timestamps are whole seconds since the epoch.
    timestamp: typeof p.timestamp === 'number' ? formatAwsTimestamp(p.timestamp * 1000) : null,
    type: str(p.type),
    userId: str(p.userId),
    appId: str(p.appId),
    clusterId: str(p.clusterId),
    bodySize: message.content.length,
  };
  return {
    basicProperties,
    redelivered: message.fields.redelivered,
    data: message.content.toString('base64'),
  };
}

const awsDateFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: 'UTC',
  month: 'short',
  day: 'numeric',
  year: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
  second: '2-digit',
  hour12: true,
});

/**
 * Formats a date the way the event source mapping does (`"Jan 1, 1970, 12:33:41 AM"`, UTC): its Java
 * side serialises `java.util.Date` with Gson's default pattern, so handlers written against AWS
 * must see the same string locally.
 *
 * @param epochMs - milliseconds since the epoch
 */
export function formatAwsTimestamp(epochMs: number): string {
  // Recent ICU puts a narrow no-break space before AM/PM; Java's pattern uses a plain space.
  return awsDateFormat.format(new Date(epochMs)).replace(/[\u202f\u00a0]/g, ' ');
}

function str(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : String(value);
}

function num(value: unknown): number | null {
  return typeof value === 'number' ? value : null;
}

function convertTable(table: Record<string, unknown>): Record<string, RabbitMqHeaderValue> {
  const out: Record<string, RabbitMqHeaderValue> = {};
  for (const [key, value] of Object.entries(table)) out[key] = convertHeaderValue(value);
  return out;
}

/**
 * Converts one decoded AMQP field value to what AWS puts in the event: strings and byte arrays as
 * `{ bytes }` (the Java client's LongString), amqplib's tagged timestamp/decimal objects as a date
 * string/number, nested tables and arrays recursively.
 *
 * @param value - a value as amqplib decodes it
 */
export function convertHeaderValue(value: unknown): RabbitMqHeaderValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return { bytes: [...Buffer.from(value, 'utf8')] };
  if (Buffer.isBuffer(value)) return { bytes: [...value] };
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (Array.isArray(value)) return value.map(convertHeaderValue);
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const tagged = record['!'];
    const inner = record.value;
    if (tagged === 'timestamp' && typeof inner === 'number') return formatAwsTimestamp(inner * 1000);
    if (tagged === 'decimal' && isDecimal(inner)) return inner.digits / 10 ** inner.places;
    return convertTable(record);
  }
  return String(value);
}

function isDecimal(value: unknown): value is { places: number; digits: number } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.places === 'number' && typeof v.digits === 'number';
}
