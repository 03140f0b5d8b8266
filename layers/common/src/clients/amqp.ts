import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { loadConfig } from '../config';
import { AppError } from '../errors';

/** How long opening a connection to the broker may take, handshake included. */
const AMQP_CONNECT_TIMEOUT_MS = 10_000;

let connection: ChannelModel | undefined;
let channel: ConfirmChannel | undefined;
let opening: Promise<ConfirmChannel> | undefined;

/**
 * The container's confirm channel. A closed connection or channel is forgotten so the next call
 * reconnects; callers never hold a dead channel across invocations.
 */
export async function confirmChannel(url = loadConfig().AMQP_URL): Promise<ConfirmChannel> {
  if (channel) return channel;
  opening ??= (async () => {
    // A broker that accepts TCP but never completes the handshake must not hang the caller (a
    // publish can run inside a MySQL transaction): amqplib's `timeout` covers the handshake.
    const conn = await amqp.connect(url, { timeout: AMQP_CONNECT_TIMEOUT_MS });
    conn.on('error', () => undefined);
    conn.on('close', () => {
      connection = undefined;
      channel = undefined;
    });
    const ch = await conn.createConfirmChannel();
    // Every publish listens for returns while it waits: concurrent invocations share the channel.
    ch.setMaxListeners(0);
    ch.on('error', () => undefined);
    ch.on('close', () => {
      channel = undefined;
    });
    connection = conn;
    channel = ch;
    return ch;
  })();
  try {
    return await opening;
  } finally {
    opening = undefined;
  }
}

export interface OutgoingMessage {
  routingKey: string;
  body: Buffer;
  messageId: string;
  headers?: Record<string, unknown>;
  /** Set when `body` is compressed (see encodeBody). */
  contentEncoding?: string;
}

/**
 * Publishes persistent, mandatory messages and resolves only once the broker confirmed every one
 * and routed it to a queue (an unroutable message comes back as `return` before its ack).
 * Backpressure: when the channel's buffer is full, waits for `drain` before writing more.
 */
export async function publishConfirmed(
  ch: ConfirmChannel,
  exchange: string,
  messages: Iterable<OutgoingMessage>,
): Promise<void> {
  const returned: string[] = [];
  const onReturn = (msg: { properties: { messageId?: string } }) => {
    returned.push(String(msg.properties.messageId));
  };
  ch.on('return', onReturn);
  try {
    let pending: Promise<void>[] = [];
    for (const m of messages) {
      const { written, confirmed } = publishOne(ch, exchange, m);
      // Marked handled now: a nack can arrive while we wait for drain; Promise.all still sees it.
      confirmed.catch(() => undefined);
      pending.push(confirmed);
      // Keep the socket buffer bounded: a full buffer means wait for drain before writing more.
      if (!written) await new Promise<void>((resolve) => ch.once('drain', () => resolve()));
      if (pending.length >= 256) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
  } finally {
    ch.off('return', onReturn);
  }
  if (returned.length > 0) {
    throw new AppError(
      'PUBLISH_UNROUTABLE',
      `no queue is bound for ${returned.length} message(s): ${returned[0]}`,
    );
  }
}

function publishOne(
  ch: ConfirmChannel,
  exchange: string,
  m: OutgoingMessage,
): { written: boolean; confirmed: Promise<void> } {
  let written = true;
  const confirmed = new Promise<void>((resolve, reject) => {
    written = ch.publish(
      exchange,
      m.routingKey,
      m.body,
      {
        persistent: true,
        mandatory: true,
        contentType: 'application/json',
        ...(m.contentEncoding ? { contentEncoding: m.contentEncoding } : {}),
        messageId: m.messageId,
        timestamp: Math.floor(Date.now() / 1000),
        headers: m.headers,
      },
      (err) => (err ? reject(new AppError('PUBLISH_NACKED', `broker refused ${m.messageId}`)) : resolve()),
    );
  });
  return { written, confirmed };
}

/** Messages ready in a queue (not counting those delivered and not yet acked). */
export async function queueDepth(ch: ConfirmChannel, queue: string): Promise<number> {
  return (await ch.checkQueue(queue)).messageCount;
}

export async function closeAmqp(): Promise<void> {
  const conn = connection;
  connection = undefined;
  channel = undefined;
  await conn?.close().catch(() => undefined);
}
