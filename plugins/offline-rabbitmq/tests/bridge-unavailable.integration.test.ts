import type { RabbitMqMessage } from '@collect/common/rmq-event';
import type { Channel, ChannelModel, GetMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BridgeOptions, type RunningBridge, startBridge } from '../src/bridge';
import type { LogRecord } from '../src/log';
import {
  AMQP_URL,
  captureLogger,
  declareQuorumQueue,
  deleteQueues,
  type FakeCall,
  type FakeLambda,
  type FakeReply,
  OFFLINE_UNHANDLED_ERROR,
  openAdmin,
  startFakeLambda,
  type TestQueues,
  testFunction,
  waitFor,
} from './helpers';

/**
 * The Lambda API (serverless-offline) being down or restarting must not use up a message's
 * deliveries: the bridge keeps the batch and re-invokes it once the API answers. Function errors
 * still count (and dead-letter past the limit).
 */

let admin: { model: ChannelModel; channel: Channel };
let fake: FakeLambda;
const declared: TestQueues[] = [];
const running: RunningBridge[] = [];
/** Hung fake replies to release after each test. */
const hung: Array<() => void> = [];

const RETRY = 'Lambda API unavailable; invocation retried';

async function queue(label: string): Promise<TestQueues> {
  const names = await declareQuorumQueue(admin.channel, label, 2);
  declared.push(names);
  return names;
}

function publish(queueName: string, messageId: string): void {
  admin.channel.sendToQueue(queueName, Buffer.from(JSON.stringify({ id: messageId })), {
    messageId,
    contentType: 'application/json',
    persistent: true,
  });
}

async function bridge(
  fnName: string,
  q: TestQueues,
  extra: Partial<BridgeOptions> & { invokeTimeoutMs?: number } = {},
): Promise<RunningBridge & { logger: ReturnType<typeof captureLogger> }> {
  const logger = captureLogger();
  const { invokeTimeoutMs, ...options } = extra;
  const fn = testFunction(fnName, [{ queue: q.queue }]);
  const b = await startBridge({
    functions: [{ ...fn, invokeTimeoutMs: invokeTimeoutMs ?? fn.invokeTimeoutMs }],
    amqpUrl: AMQP_URL,
    invokeBaseUrl: fake.url,
    logger,
    queueWaitMs: 5_000,
    retryDelayMs: 20,
    ...options,
  });
  running.push(b);
  return Object.assign(b, { logger });
}

function retries(logger: { errors: LogRecord[] }): LogRecord[] {
  return logger.errors.filter((r) => r.msg.startsWith(RETRY));
}

function failures(logger: { errors: LogRecord[] }): LogRecord[] {
  return logger.errors.filter((r) => r.msg.startsWith('invocation failed'));
}

/** The messages of one call, from `queueName`. */
function messagesOf(call: FakeCall | undefined, queueName: string): RabbitMqMessage[] {
  return call?.event.rmqMessagesByQueue[`${queueName}::/`] ?? [];
}

/** `x-delivery-count` as the function saw it (absent on a first delivery). */
function seenDeliveryCount(message: RabbitMqMessage | undefined): unknown {
  return message?.basicProperties.headers?.['x-delivery-count'] ?? 0;
}

async function counts(q: TestQueues): Promise<{ ready: number; dead: number }> {
  const [main, dead] = await Promise.all([
    admin.channel.checkQueue(q.queue),
    admin.channel.checkQueue(q.dead),
  ]);
  return { ready: main.messageCount, dead: dead.messageCount };
}

beforeAll(async () => {
  admin = await openAdmin();
  fake = await startFakeLambda();
});

afterEach(async () => {
  for (const release of hung.splice(0)) release();
  await Promise.all(running.splice(0).map((b) => b.stop(5_000)));
  await fake.up();
  fake.calls.length = 0;
  fake.maxInFlight.clear();
  fake.handler = () => ({ status: 200, body: {} });
});

afterAll(async () => {
  for (const names of declared) await deleteQueues(admin.channel, names);
  await admin.model.close();
  await fake.close();
});

describe('bridge while the Lambda API is unavailable', () => {
  it('holds a message while the API is down and invokes it once, with no delivery counted, when it is back', async () => {
    const q = await queue('down');
    const b = await bridge('fn-down', q);
    await fake.down();
    publish(q.queue, 'down-1');

    // Two retry rounds: the backoff doubles, and no call got through.
    await waitFor('two retry rounds', () => retries(b.logger).length >= 2);
    expect(fake.calls).toHaveLength(0);
    expect(b.inFlight()['fn-down']).toBe(1);
    await fake.up();

    await waitFor('invoked', () => fake.calls.length === 1);
    await waitFor('settled', () => b.inFlight()['fn-down'] === 0);
    await b.stop();

    expect(fake.calls).toHaveLength(1);
    const [message] = messagesOf(fake.calls[0], q.queue);
    expect(message?.basicProperties.messageId).toBe('down-1');
    expect(seenDeliveryCount(message)).toBe(0);
    expect(message?.redelivered).toBe(false);

    const rounds = retries(b.logger);
    expect(rounds.slice(0, 3).map((r) => r.retryInMs)).toEqual([250, 500, 1000].slice(0, rounds.length));
    expect(rounds[0]).toMatchObject({
      queue: q.queue,
      function: 'fn-down',
      messageIds: ['down-1'],
      deliveryCounts: [0],
      attempt: 1,
    });
    expect(String(rounds[0]?.error)).toContain('ECONNREFUSED');
    expect(failures(b.logger)).toEqual([]);
    expect(b.logger.infos.some((m) => m.startsWith('Lambda API answered again: fn-down'))).toBe(true);
    // Acked (nothing came back when the channel closed), nothing dead-lettered.
    expect(await counts(q)).toEqual({ ready: 0, dead: 0 });
  });

  it('re-invokes after the API drops the connection mid-request, without counting deliveries', async () => {
    const q = await queue('reset');
    let drops = 2;
    fake.handler = (): FakeReply => (drops-- > 0 ? { destroy: true } : { status: 200, body: {} });
    const b = await bridge('fn-reset', q);
    publish(q.queue, 'reset-1');

    await waitFor('third invocation', () => fake.calls.length === 3);
    await waitFor('settled', () => b.inFlight()['fn-reset'] === 0);
    await b.stop();

    expect(fake.calls).toHaveLength(3);
    for (const call of fake.calls) {
      const [message] = messagesOf(call, q.queue);
      expect(message?.basicProperties.messageId).toBe('reset-1');
      expect(seenDeliveryCount(message)).toBe(0);
      expect(message?.redelivered).toBe(false);
    }
    const rounds = retries(b.logger);
    expect(rounds.map((r) => [r.attempt, r.deliveryCounts])).toEqual([
      [1, [0]],
      [2, [0]],
    ]);
    for (const r of rounds) expect(String(r.error)).toMatch(/UND_ERR_SOCKET|other side closed|ECONNRESET/);
    expect(failures(b.logger)).toEqual([]);
    expect(await counts(q)).toEqual({ ready: 0, dead: 0 });
  });

  it('still counts function errors, non-200 answers and its own timeout, and dead-letters', async () => {
    const q = await queue('fn-errors');
    const replies: Array<() => FakeReply | Promise<FakeReply>> = [
      () => OFFLINE_UNHANDLED_ERROR,
      () => ({ status: 502, body: 'Bad Gateway' }),
      // Never answers in time: the bridge's invoke timeout (300 ms) elapses.
      () => new Promise((resolve) => hung.push(() => resolve({ status: 200, body: {} }))),
    ];
    fake.handler = () => (replies[fake.calls.length - 1] ?? (() => ({ status: 200, body: {} })))();
    const b = await bridge('fn-errors', q, { invokeTimeoutMs: 300 });
    publish(q.queue, 'bad-1');

    const dead: { message?: GetMessage } = {};
    await waitFor('message in the dead-letter queue', async () => {
      dead.message = (await admin.channel.get(q.dead, { noAck: true })) || undefined;
      return dead.message !== undefined;
    });
    expect(dead.message?.properties.headers?.['x-first-death-reason']).toBe('delivery_limit');
    // x-delivery-limit 2: first delivery + 2 redeliveries, each failure counted.
    expect(fake.calls).toHaveLength(3);
    const failed = failures(b.logger);
    expect(failed.map((r) => r.deliveryCount)).toEqual([0, 1, 2]);
    expect(String(failed[0]?.error)).toContain('boom');
    expect(String(failed[1]?.error)).toContain('HTTP 502');
    expect(String(failed[2]?.error)).toContain('timed out after 300 ms');
    expect(retries(b.logger)).toEqual([]);
    expect((await admin.channel.checkQueue(q.queue)).messageCount).toBe(0);
  });

  it('on stop while the API is down, stops retrying at once and requeues the message', async () => {
    const q = await queue('down-stop');
    // A long pause: a stop that waited it out would take 30 s.
    const b = await bridge('fn-down-stop', q, {
      unavailableMinDelayMs: 30_000,
      unavailableMaxDelayMs: 30_000,
    });
    await fake.down();
    publish(q.queue, 'stop-1');
    await waitFor('first retry round', () => retries(b.logger).length === 1);

    const started = Date.now();
    await b.stop(20_000);
    expect(Date.now() - started).toBeLessThan(10_000);

    expect(fake.calls).toHaveLength(0);
    expect(retries(b.logger)).toHaveLength(1);
    expect(b.logger.errors.filter((r) => r.msg.includes('retries stopped'))).toMatchObject([
      { messageId: 'stop-1', deliveryCount: 0 },
    ]);
    // Back in its queue (that requeue is a counted redelivery), not dead-lettered.
    await waitFor('message back in the queue', async () => (await counts(q)).ready === 1);
    expect((await counts(q)).dead).toBe(0);
  });
});
