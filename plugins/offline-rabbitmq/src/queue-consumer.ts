import { type Channel, type ChannelModel, type ConsumeMessage, connect } from 'amqplib';
import { amqpUrlForVhost, deliveryCount, isNotFound, vhostOfUrl } from './amqp-helpers';
import type { ConcurrencyGate } from './concurrency-gate';
import { buildRabbitMqEvent } from './event-builder';
import type { Invoke, InvokeResult } from './invoker';
import { type BridgeLogger, describeError, redactUrl } from './log';
import type { BridgeFunction, QueueSource } from './service-config';
import { delay, settleWithin } from './timing';

/** Everything one queue consumer needs; `startBridge` builds these. */
export interface QueueConsumerOptions {
  fn: BridgeFunction;
  source: QueueSource;
  /** AMQP_URL; the source's `virtualHost`, if any, replaces its vhost. */
  amqpUrl: string;
  /** The function's gate, shared with its other queues. */
  gate: ConcurrencyGate;
  invoke: Invoke;
  logger: BridgeLogger;
  /** How long start (and each reconnect) waits for the broker and the queue. */
  queueWaitMs: number;
  /** Pause between two checks of a missing queue / unreachable broker. */
  queueRetryMs: number;
  /** Pause before requeueing a failed batch (holds its slot), so failures do not spin. */
  retryDelayMs: number;
  /**
   * First and maximum pause (doubling) between invocations of a batch while the Lambda API is
   * unreachable (BRIDGE_UNAVAILABLE_MAX_DELAY_MS is the maximum).
   */
  unavailableMinDelayMs: number;
  unavailableMaxDelayMs: number;
  /** First and maximum pause between reconnect rounds (doubling). */
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

interface Delivery {
  channel: Channel;
  message: ConsumeMessage;
}

const noop = (): void => undefined;

/**
 * Consumes one queue for one function: manual acks, prefetch = batchSize × concurrency, batches
 * of up to batchSize messages invoked while the function's gate has a free slot. A batch is acked
 * when the invocation succeeds and nacked with requeue when the function fails (an error, a
 * timeout), so the quorum queue counts the delivery and dead-letters the message past its
 * `x-delivery-limit`. While the Lambda API itself is unreachable (serverless-offline down or
 * restarting), the batch is kept, with its slot, and re-invoked with backoff: like on AWS, an
 * unavailable function does not use up the message's deliveries.
 *
 * Owns its own connection: a dropped connection or channel is reopened with backoff; deliveries of
 * the dead channel are not acked (the broker redelivers them).
 */
export class QueueConsumer {
  /** Virtual host of the queue (the event key is `<queue>::<vhost>`). */
  readonly vhost: string;
  readonly #o: QueueConsumerOptions;
  readonly #url: string;
  #model: ChannelModel | null = null;
  #channel: Channel | null = null;
  #consumerTag: string | null = null;
  #buffer: Delivery[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  /** Channels known closed: acks on them are impossible, their deliveries come back anyway. */
  readonly #closed = new WeakSet<Channel>();
  #stopping = false;
  /** Aborted by `stop`: cuts retry pauses short. */
  readonly #stopSignal = new AbortController();
  #connecting: Promise<void> | null = null;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #attempt = 0;
  readonly #unsubscribe: () => void;
  /** The prefetch of the live consumer; a new limit re-subscribes with a new one. */
  #prefetch = 0;
  /** Re-subscriptions run one at a time, in order. */
  #resizing: Promise<void> = Promise.resolve();

  constructor(options: QueueConsumerOptions) {
    this.#o = options;
    this.#url = amqpUrlForVhost(options.amqpUrl, options.source.virtualHost);
    this.vhost = options.source.virtualHost ?? vhostOfUrl(options.amqpUrl);
    const offRelease = options.gate.onRelease(() => this.#pump());
    const offLimit = options.gate.onLimitChange(() => {
      this.#resizing = this.#resizing.then(() => this.#resize()).catch(noop);
    });
    this.#unsubscribe = () => {
      offRelease();
      offLimit();
    };
  }

  /**
   * The prefetch for the function's limit now: a batch per slot, and at least one batch (a
   * prefetch of 0 would mean no limit at all to the broker).
   */
  #prefetchNow(): number {
    return this.#o.source.batchSize * Math.max(1, this.#o.gate.limit);
  }

  /**
   * Sizes the live consumer's prefetch to the function's new limit. A prefetch (`basic.qos`,
   * per consumer) applies to consumers started after it, so this starts a new consumer on the
   * same channel and cancels the old one; deliveries already received stay on the channel and
   * are acked there as before. Without it a raised limit would stay capped by the old prefetch,
   * and a lowered one would keep messages buffered here that another bridge could run.
   */
  async #resize(): Promise<void> {
    const channel = this.#channel;
    const oldTag = this.#consumerTag;
    const prefetch = this.#prefetchNow();
    if (!channel || !oldTag || this.#stopping || this.#closed.has(channel) || prefetch === this.#prefetch)
      return;
    await channel.prefetch(prefetch);
    const { consumerTag } = await channel.consume(this.#o.source.queue, this.#deliver(channel));
    // The channel may have died, or the bridge begun stopping, meanwhile: whoever handles that
    // (#lost, stop) works from the state below, so keep it true to the broker.
    if (this.#channel !== channel) return;
    this.#consumerTag = consumerTag;
    this.#prefetch = prefetch;
    await channel.cancel(oldTag).catch(noop);
  }

  /** The consume callback for a channel: buffer each delivery; a broker cancel reconnects. */
  #deliver(channel: Channel): (message: ConsumeMessage | null) => void {
    return (message) => {
      if (message === null) {
        // The broker cancelled us (queue deleted): reconnecting waits for it to come back.
        this.#closed.add(channel);
        void channel.close().catch(noop);
        const model = this.#model;
        if (model && this.#channel === channel) this.#lost(model, 'consumer cancelled by the broker');
      } else {
        this.#buffer.push({ channel, message });
        this.#pump();
      }
    };
  }

  /**
   * Connects, waits for the queue (up to `queueWaitMs`) and starts consuming.
   *
   * @throws if the broker or the queue is still missing at the deadline
   */
  async start(): Promise<void> {
    this.#connecting = this.#connect(Date.now() + this.#o.queueWaitMs);
    try {
      await this.#connecting;
    } finally {
      this.#connecting = null;
    }
  }

  /**
   * Stops consuming, returns undispatched messages, waits up to `timeoutMs` for invocations in
   * flight to be acked/nacked, then closes the connection (which requeues whatever is still out).
   */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    this.#stopSignal.abort();
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#unsubscribe();
    await this.#connecting?.catch(noop);
    await this.#resizing;
    const channel = this.#channel;
    if (channel && this.#consumerTag && !this.#closed.has(channel))
      await channel.cancel(this.#consumerTag).catch(noop);
    for (const d of this.#buffer) this.#settle(d.channel, d.message, 'nack');
    this.#buffer = [];

    if (!(await settleWithin(this.#inFlight, timeoutMs))) {
      this.#log({
        msg: 'shutdown timeout: invocations still running; messages go back to the queue',
        batches: this.#inFlight.size,
      });
    }
    const model = this.#model;
    this.#model = null;
    this.#channel = null;
    // Close the channel before the connection: a quorum queue may apply the connection's death
    // before acks sent just before it (seen on 3.10), requeueing messages already processed.
    if (channel && !this.#closed.has(channel)) await channel.close().catch(noop);
    await model?.close().catch(noop);
  }

  /** Opens connection + channel and consumes; retries every `queueRetryMs` until `deadline`. */
  async #connect(deadline: number): Promise<void> {
    const { queue } = this.#o.source;
    let model: ChannelModel | null = null;
    let lastError: unknown = null;
    for (;;) {
      if (this.#stopping) throw new Error('bridge stopping');
      try {
        model ??= await this.#open();
        await this.#checkQueue(model);
        await this.#consume(model);
        return;
      } catch (err) {
        lastError = err;
        // Keep the connection while only the queue is missing: checkQueue just closed a channel.
        if (!isNotFound(err)) {
          await model?.close().catch(noop);
          model = null;
        }
      }
      if (Date.now() + this.#o.queueRetryMs > deadline) {
        await model?.close().catch(noop);
        const why = isNotFound(lastError)
          ? `queue "${queue}" does not exist on vhost "${this.vhost}" (run the project's setup command)`
          : `RabbitMQ unreachable at ${redactUrl(this.#url)}: ${describeError(lastError)}`;
        throw new Error(`${why}; gave up after ${this.#o.queueWaitMs} ms (BRIDGE_QUEUE_WAIT_MS)`);
      }
      await delay(this.#o.queueRetryMs);
    }
  }

  async #open(): Promise<ChannelModel> {
    const model = await connect(this.#url, {
      // A broker that accepts TCP and never answers fails the attempt (the caller's deadline
      // then applies) instead of hanging it: amqplib's `timeout` covers the handshake.
      timeout: 10_000,
      clientProperties: {
        connection_name: `collect-bridge ${this.#o.fn.functionName} <- ${this.#o.source.queue}`,
      },
    });
    // Without a listener an 'error' event would crash the process; 'close' follows it anyway.
    model.on('error', noop);
    return model;
  }

  /** checkQueue (never declare: the setup command owns the queue's arguments). */
  async #checkQueue(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', noop);
    await channel.checkQueue(this.#o.source.queue);
    await channel.close().catch(noop);
  }

  async #consume(model: ChannelModel): Promise<void> {
    const { source } = this.#o;
    const channel = await model.createChannel();
    channel.on('error', noop);
    channel.on('close', () => {
      this.#closed.add(channel);
      this.#lost(model, 'channel closed');
    });
    model.on('close', (err?: Error) => {
      this.#closed.add(channel);
      this.#lost(model, err ? describeError(err) : 'connection closed');
    });
    const prefetch = this.#prefetchNow();
    await channel.prefetch(prefetch);
    const { consumerTag } = await channel.consume(source.queue, this.#deliver(channel));
    // Only now does this connection become the live one: a close before this point is handled by
    // the retry loop in #connect, a close after it by #lost (never both).
    if (this.#closed.has(channel)) throw new Error('channel closed while subscribing');
    if (this.#stopping) throw new Error('bridge stopping');
    this.#model = model;
    this.#channel = channel;
    this.#consumerTag = consumerTag;
    this.#prefetch = prefetch;
    // A limit changed while subscribing: size to it now.
    if (prefetch !== this.#prefetchNow())
      this.#resizing = this.#resizing.then(() => this.#resize()).catch(noop);
  }

  #lost(model: ChannelModel, reason: string): void {
    if (this.#stopping || model !== this.#model) return;
    this.#model = null;
    this.#channel = null;
    void model.close().catch(noop);
    this.#buffer = this.#buffer.filter((d) => !this.#closed.has(d.channel));
    this.#log({ msg: 'connection lost; reconnecting', reason });
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#stopping) return;
    const wait = Math.min(this.#o.reconnectMaxMs, this.#o.reconnectMinMs * 2 ** this.#attempt);
    this.#attempt += 1;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connecting = this.#connect(Date.now() + this.#o.queueWaitMs);
      this.#connecting
        .then(() => {
          this.#attempt = 0;
          this.#o.logger.info(`reconnected: ${this.#o.fn.functionName} <- ${this.#o.source.queue}`);
        })
        .catch((err: unknown) => {
          this.#log({ msg: 'reconnect failed', attempt: this.#attempt, error: describeError(err) });
          this.#scheduleReconnect();
        })
        .finally(() => {
          this.#connecting = null;
        });
    }, wait);
  }

  /** Dispatches buffered messages while the function has free slots. */
  #pump(): void {
    const { gate, source } = this.#o;
    while (!this.#stopping) {
      this.#buffer = this.#buffer.filter((d) => !this.#closed.has(d.channel));
      const first = this.#buffer[0];
      if (!first || !gate.tryAcquire()) return;
      // One batch never spans channels: its acks must go to the channel it came from.
      let n = 0;
      while (n < source.batchSize && this.#buffer[n]?.channel === first.channel) n++;
      const batch = this.#buffer.splice(0, n).map((d) => d.message);
      const run: Promise<void> = this.#run(first.channel, batch).finally(() => {
        this.#inFlight.delete(run);
        gate.release();
      });
      this.#inFlight.add(run);
    }
  }

  /** Invokes the function with one batch and settles it; never rejects. */
  async #run(channel: Channel, messages: ConsumeMessage[]): Promise<void> {
    const { source } = this.#o;
    let result: InvokeResult;
    try {
      const event = buildRabbitMqEvent(source.arn, source.queue, this.vhost, messages);
      result = await this.#invokeUntilAnswered(channel, messages, event);
    } catch (err) {
      result = { ok: false, durationMs: 0, error: describeError(err), unavailable: false };
    }
    if (!result.ok && result.unavailable) {
      // Retries ended without an answer: the bridge is stopping, or the channel died (its
      // deliveries return to the queue anyway). Requeue; that redelivery is the only one counted.
      for (const message of messages) {
        this.#log({
          msg: 'Lambda API unavailable; retries stopped (bridge stopping or channel lost); message requeued',
          messageId: message.properties.messageId ?? null,
          deliveryCount: deliveryCount(message),
          batchSize: messages.length,
          error: result.error,
        });
        this.#settle(channel, message, 'nack');
      }
      return;
    }
    // The slot stays taken during the pause: a failing function then costs one delivery attempt
    // per retryDelayMs per slot, not one per millisecond.
    if (!result.ok && this.#o.retryDelayMs > 0 && !this.#stopping)
      await delay(this.#o.retryDelayMs, this.#stopSignal.signal);
    for (const message of messages) {
      if (!result.ok) {
        this.#log({
          msg: 'invocation failed; message requeued',
          messageId: message.properties.messageId ?? null,
          deliveryCount: deliveryCount(message),
          redelivered: message.fields.redelivered,
          batchSize: messages.length,
          durationMs: result.durationMs,
          error: result.error,
        });
      }
      this.#settle(channel, message, result.ok ? 'ack' : 'nack');
    }
  }

  /**
   * Invokes the function with the batch's event; while the Lambda API is unreachable (no HTTP
   * answer: connection refused or reset, see `isLambdaApiUnavailable`), waits and invokes again,
   * with doubling pauses from `unavailableMinDelayMs` up to `unavailableMaxDelayMs`, holding the
   * batch (unacked) and its concurrency slot. Nothing is nacked meanwhile, so the quorum queue
   * does not count these attempts against `x-delivery-limit`.
   *
   * Re-invoking can run the function twice for one delivery: a connection reset in the middle of
   * an invocation (serverless-offline killed or restarted while the handler ran) may come after
   * the handler did part or all of its work. That is acceptable because the platform's handlers
   * are idempotent (they must be anyway: RabbitMQ and the event source mapping deliver at least
   * once).
   *
   * @returns the first answered outcome (success or function failure), or an unavailable one if
   *   the bridge started stopping or the batch's channel closed while retrying
   */
  async #invokeUntilAnswered(
    channel: Channel,
    messages: ConsumeMessage[],
    event: unknown,
  ): Promise<InvokeResult> {
    const { fn, unavailableMinDelayMs, unavailableMaxDelayMs } = this.#o;
    let wait = Math.min(unavailableMinDelayMs, unavailableMaxDelayMs);
    for (let attempt = 1; ; attempt++) {
      const result = await this.#o.invoke(fn.functionName, event, fn.invokeTimeoutMs);
      if (result.ok || !result.unavailable) {
        if (attempt > 1)
          this.#o.logger.info(
            `Lambda API answered again: ${fn.functionName} <- ${this.#o.source.queue} after ${attempt} attempts`,
          );
        return result;
      }
      if (this.#stopping || this.#closed.has(channel)) return result;
      this.#log({
        msg: 'Lambda API unavailable; invocation retried (delivery not counted)',
        messageIds: messages.map((m) => m.properties.messageId ?? null),
        deliveryCounts: messages.map(deliveryCount),
        batchSize: messages.length,
        attempt,
        retryInMs: wait,
        error: result.error,
      });
      await delay(wait, this.#stopSignal.signal);
      if (this.#stopping || this.#closed.has(channel)) return result;
      wait = Math.min(wait * 2, unavailableMaxDelayMs);
    }
  }

  #settle(channel: Channel, message: ConsumeMessage, how: 'ack' | 'nack'): void {
    try {
      if (this.#closed.has(channel)) throw new Error('channel closed');
      if (how === 'ack') channel.ack(message);
      else channel.nack(message, false, true);
    } catch (err) {
      this.#log({
        msg: `cannot ${how}: the broker will redeliver the message`,
        messageId: message.properties.messageId ?? null,
        deliveryCount: deliveryCount(message),
        error: describeError(err),
      });
    }
  }

  #log(record: { msg: string } & Record<string, unknown>): void {
    this.#o.logger.error({ queue: this.#o.source.queue, function: this.#o.fn.functionName, ...record });
  }
}
