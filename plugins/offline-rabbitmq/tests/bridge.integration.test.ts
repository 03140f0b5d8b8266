import { execFileSync } from 'node:child_process';
import type { Channel, ChannelModel, GetMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBridge, startBridge } from '../src/bridge';
import {
  AMQP_URL,
  captureLogger,
  declareQuorumQueue,
  deleteQueues,
  type FakeLambda,
  OFFLINE_UNHANDLED_ERROR,
  openAdmin,
  receivedMessageIds,
  startFakeLambda,
  type TestQueues,
  testFunction,
  uniqueName,
  waitFor,
} from './helpers';

let admin: { model: ChannelModel; channel: Channel };
let fake: FakeLambda;
const declared: TestQueues[] = [];
const running: RunningBridge[] = [];
/** Plain queues to delete in afterAll, even when a test fails half-way. */
const plainQueues: string[] = [];

async function queue(label: string): Promise<TestQueues> {
  const names = await declareQuorumQueue(admin.channel, label, 2);
  declared.push(names);
  return names;
}

function publish(queueName: string, messageId: string, body: unknown = { id: messageId }): void {
  admin.channel.sendToQueue(queueName, Buffer.from(JSON.stringify(body)), {
    messageId,
    contentType: 'application/json',
    persistent: true,
  });
}

async function bridge(
  ...args: [...Parameters<typeof testFunction>, limits?: () => ReadonlyMap<string, number>]
): Promise<RunningBridge> {
  const [name, queues, concurrency, limits] = args;
  const b = await startBridge({
    functions: [testFunction(name, queues, concurrency)],
    limits,
    amqpUrl: AMQP_URL,
    invokeBaseUrl: fake.url,
    logger: captureLogger(),
    queueWaitMs: 5_000,
  });
  running.push(b);
  return b;
}

beforeAll(async () => {
  admin = await openAdmin();
  fake = await startFakeLambda();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((b) => b.stop(5_000)));
  fake.calls.length = 0;
  fake.maxInFlight.clear();
  fake.handler = () => ({ status: 200, body: {} });
});

afterAll(async () => {
  for (const names of declared) await deleteQueues(admin.channel, names);
  for (const name of plainQueues) await admin.channel.deleteQueue(name);
  await admin.model.close();
  await fake.close();
});

describe('bridge against RabbitMQ', () => {
  it('invokes with the Amazon MQ event and acks on success', async () => {
    const q = await queue('ack');
    const b = await bridge('fn-ack', [{ queue: q.queue }]);
    publish(q.queue, 'm-1', { hello: 'world' });

    await waitFor('one invocation', () => fake.calls.length === 1);
    await waitFor('invocation settled', () => b.inFlight()['fn-ack'] === 0);
    await b.stop();

    const event = fake.calls[0]?.event;
    expect(fake.calls[0]?.functionName).toBe('fn-ack');
    expect(event?.eventSource).toBe('aws:rmq');
    const messages = event?.rmqMessagesByQueue[`${q.queue}::/`] ?? [];
    expect(messages).toHaveLength(1);
    expect(JSON.parse(Buffer.from(messages[0]?.data ?? '', 'base64').toString())).toEqual({ hello: 'world' });
    expect(messages[0]?.basicProperties).toMatchObject({
      messageId: 'm-1',
      contentType: 'application/json',
      deliveryMode: 2,
    });
    // Acked: closing the bridge's channel returned nothing to the queue.
    expect((await admin.channel.checkQueue(q.queue)).messageCount).toBe(0);
    expect(fake.calls).toHaveLength(1);
  });

  it('requeues a failing message until the delivery limit dead-letters it', async () => {
    const q = await queue('fail');
    fake.handler = () => OFFLINE_UNHANDLED_ERROR;
    const logger = captureLogger();
    const b = await startBridge({
      functions: [testFunction('fn-fail', [{ queue: q.queue }])],
      amqpUrl: AMQP_URL,
      invokeBaseUrl: fake.url,
      logger,
      retryDelayMs: 20,
    });
    running.push(b);
    publish(q.queue, 'bad-1', { poison: true });

    const dead: { message?: GetMessage } = {};
    await waitFor('message in the dead-letter queue', async () => {
      dead.message = (await admin.channel.get(q.dead, { noAck: true })) || undefined;
      return dead.message !== undefined;
    });
    expect(JSON.parse(dead.message?.content.toString() ?? '')).toEqual({ poison: true });
    expect(dead.message?.properties.headers?.['x-first-death-reason']).toBe('delivery_limit');
    // x-delivery-limit 2: first delivery + 2 redeliveries, then dead-lettered.
    expect(fake.calls).toHaveLength(3);
    const failures = logger.errors.filter((r) => r.msg.startsWith('invocation failed'));
    expect(failures.map((r) => r.deliveryCount)).toEqual([0, 1, 2]);
    expect(failures[0]).toMatchObject({ queue: q.queue, function: 'fn-fail', messageId: 'bad-1' });
    expect(String(failures[0]?.error)).toContain('boom');
    expect((await admin.channel.checkQueue(q.queue)).messageCount).toBe(0);
  });

  it('never exceeds the concurrency of a function, across its queues', async () => {
    const q1 = await queue('conc1');
    const q2 = await queue('conc2');
    // Simulated work keeps invocations overlapping so the limit is actually reached.
    fake.handler = () => new Promise((resolve) => setTimeout(() => resolve({ status: 200, body: {} }), 30));
    const b = await bridge('fn-conc', [{ queue: q1.queue }, { queue: q2.queue, batchSize: 3 }], 2);
    const ids = Array.from({ length: 24 }, (_, i) => `c-${i}`);
    for (const [i, id] of ids.entries()) publish(i % 2 ? q2.queue : q1.queue, id);

    await waitFor('all messages invoked', () => receivedMessageIds(fake.calls).length >= ids.length);
    await waitFor('all settled', () => b.inFlight()['fn-conc'] === 0);
    expect(new Set(receivedMessageIds(fake.calls))).toEqual(new Set(ids));
    expect(fake.maxInFlight.get('fn-conc')).toBe(2);
    for (const call of fake.calls) {
      for (const [key, msgs] of Object.entries(call.event.rmqMessagesByQueue)) {
        expect(msgs.length).toBeLessThanOrEqual(key.startsWith(q2.queue) ? 3 : 1);
      }
    }
  });

  it('a limit raised above the declared concurrency runs more at once: the prefetch follows it', async () => {
    const q = await queue('raise');
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Invocations hold until 4 run at once (or the test's deadline fails it).
    fake.handler = async () => {
      await gate;
      return { status: 200, body: {} };
    };
    const b = await bridge('fn-raise', [{ queue: q.queue }], 1);
    b.setLimits(new Map([['fn-raise', 4]]));
    expect(b.limits()['fn-raise']).toBe(4);
    const ids = Array.from({ length: 12 }, (_, i) => `r-${i}`);
    for (const id of ids) publish(q.queue, id);
    await waitFor('4 invocations at once', () => b.inFlight()['fn-raise'] === 4);
    release();
    await waitFor('all messages invoked', () => receivedMessageIds(fake.calls).length >= ids.length);
    await waitFor('all settled', () => b.inFlight()['fn-raise'] === 0);
    expect(fake.maxInFlight.get('fn-raise')).toBe(4);
    expect(new Set(receivedMessageIds(fake.calls))).toEqual(new Set(ids));
    await waitFor(
      'the queue empty',
      async () => (await admin.channel.checkQueue(q.queue)).messageCount === 0,
    );
  });

  it('starts with the limits it is given: a function held at 0 runs nothing, and takes one batch only', async () => {
    const q = await queue('held');
    for (const id of ['h-1', 'h-2', 'h-3']) publish(q.queue, id);
    const b = await bridge('fn-held', [{ queue: q.queue }], 2, () => new Map([['fn-held', 0]]));
    expect(b.limits()['fn-held']).toBe(0);
    // A prefetch of one batch, not 0 (which the broker reads as no limit at all).
    await waitFor(
      'one message taken',
      async () => (await admin.channel.checkQueue(q.queue)).messageCount === 2,
    );
    expect(fake.calls).toEqual([]);
    b.setLimits(new Map());
    await waitFor('all messages invoked', () => receivedMessageIds(fake.calls).length >= 3);
    expect(new Set(receivedMessageIds(fake.calls))).toEqual(new Set(['h-1', 'h-2', 'h-3']));
    await waitFor('all settled', () => b.inFlight()['fn-held'] === 0);
  });

  it('waits for a queue created after start, and names a queue that never comes', async () => {
    const late = uniqueName('late');
    const starting = startBridge({
      functions: [testFunction('fn-late', [{ queue: `${late}.q` }])],
      amqpUrl: AMQP_URL,
      invokeBaseUrl: fake.url,
      logger: captureLogger(),
      queueWaitMs: 10_000,
      queueRetryMs: 50,
    });
    plainQueues.push(`${late}.q`);
    await admin.channel.assertQueue(`${late}.q`, { durable: false });
    const b = await starting;
    running.push(b);
    publish(`${late}.q`, 'late-1');
    await waitFor('invocation on the late queue', () => fake.calls.length === 1);
    await b.stop();

    const missing = uniqueName('missing');
    await expect(
      startBridge({
        functions: [testFunction('fn-missing', [{ queue: missing }])],
        amqpUrl: AMQP_URL,
        invokeBaseUrl: fake.url,
        logger: captureLogger(),
        queueWaitMs: 300,
        queueRetryMs: 50,
      }),
    ).rejects.toThrow(`queue "${missing}" does not exist`);
  });

  it('on stop, waits for the invocation in flight and acks it', async () => {
    const q = await queue('drain');
    let release: () => void = () => undefined;
    fake.handler = () => new Promise((resolve) => (release = () => resolve({ status: 200, body: {} })));
    const b = await bridge('fn-drain', [{ queue: q.queue }]);
    publish(q.queue, 'd-1');
    await waitFor('invocation started', () => fake.calls.length === 1);

    let stopped = false;
    const stopping = b.stop(10_000).then(() => {
      stopped = true;
    });
    // Give stop a few broker round trips (its basic.cancel) to get as far as it can.
    for (let i = 0; i < 3; i++) await admin.channel.checkQueue(q.queue);
    expect(stopped).toBe(false);
    release();
    await stopping;
    // Acked before the connection closed: a stop that did not wait would have requeued it.
    expect((await admin.channel.checkQueue(q.queue)).messageCount).toBe(0);
    expect(fake.calls).toHaveLength(1);
  });

  it('reconnects after the broker closes its connection', async () => {
    const q = await queue('reconnect');
    const logger = captureLogger();
    const b = await startBridge({
      functions: [testFunction('fn-reconnect', [{ queue: q.queue }])],
      amqpUrl: AMQP_URL,
      invokeBaseUrl: fake.url,
      logger,
      reconnectMinMs: 50,
    });
    running.push(b);
    publish(q.queue, 'r-1');
    await waitFor('first invocation', () => fake.calls.length === 1);

    closeConnectionsMatching(q.queue);
    await waitFor('reconnected', () => logger.infos.some((m) => m.startsWith('reconnected')));
    expect(logger.errors.some((r) => r.msg.startsWith('connection lost'))).toBe(true);
    publish(q.queue, 'r-2');
    await waitFor('invocation after reconnect', () => receivedMessageIds(fake.calls).includes('r-2'));
  });
});

/** Forces a connection loss: the bridge names its connections after the queue; close takes the pid. */
function closeConnectionsMatching(text: string): void {
  const list = execFileSync(
    'rabbitmqctl',
    ['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties'],
    {
      encoding: 'utf8',
    },
  );
  const names = list
    .split('\n')
    .filter((line) => line.includes(text))
    .map((line) => line.split('\t')[0] ?? '');
  expect(names.length).toBeGreaterThan(0);
  for (const name of names)
    execFileSync('rabbitmqctl', ['close_connection', name, 'bridge test'], { stdio: 'ignore' });
}
