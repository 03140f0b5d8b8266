import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RabbitMqEvent } from '@collect/common/rmq-event';
import { type Channel, type ChannelModel, connect } from 'amqplib';
import type { BridgeLogger, LogRecord } from '../src/log';
import type { BridgeFunction } from '../src/service-config';

export const AMQP_URL = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672';

/**
 * Polls `condition` until it holds; fails with `what` at the deadline. Replaces fixed sleeps: the
 * test proceeds as soon as the state it needs is reached.
 */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What the fake Lambda answers. */
export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Destroy the socket instead of answering (serverless-offline killed mid-invocation). */
  destroy?: boolean;
}

/** One request the fake Lambda received. */
export interface FakeCall {
  functionName: string;
  event: RabbitMqEvent;
}

/** A stand-in for serverless-offline's Lambda Invoke API. */
export interface FakeLambda {
  url: string;
  calls: FakeCall[];
  /** Highest number of concurrent requests seen, per function name. */
  maxInFlight: Map<string, number>;
  /** Decides the reply; may wait (to keep an invocation in flight). */
  handler: (call: FakeCall) => FakeReply | Promise<FakeReply>;
  /** Stops listening and drops every connection: the port refuses connections until `up`. */
  down(): Promise<void>;
  /** Listens again on the same port (no-op when up). */
  up(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a fake Lambda Invoke API on a random port. */
export async function startFakeLambda(): Promise<FakeLambda> {
  const inFlight = new Map<string, number>();
  let port = 0;
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      if (server.listening) return resolve();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const fake: FakeLambda = {
    url: '',
    calls: [],
    maxInFlight: new Map(),
    handler: () => ({ status: 200, body: {} }),
    down: stopListening,
    up: listen,
    close: stopListening,
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(req.url ?? '');
      if (!match?.[1] || req.method !== 'POST') {
        // Like serverless-offline's Lambda port: other routes are 404 (the bridge's readiness probe).
        res.writeHead(404).end();
        return;
      }
      const functionName = decodeURIComponent(match[1]);
      const current = (inFlight.get(functionName) ?? 0) + 1;
      inFlight.set(functionName, current);
      fake.maxInFlight.set(functionName, Math.max(current, fake.maxInFlight.get(functionName) ?? 0));
      try {
        const call = { functionName, event: JSON.parse(await readBody(req)) as RabbitMqEvent };
        fake.calls.push(call);
        const reply = await fake.handler(call);
        if (reply.destroy) {
          req.socket.destroy();
          return;
        }
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify(reply.body ?? {}));
      } finally {
        inFlight.set(functionName, (inFlight.get(functionName) ?? 1) - 1);
      }
    })();
  });
  server.keepAliveTimeout = 1;
  await listen();
  port = (server.address() as AddressInfo).port;
  fake.url = `http://127.0.0.1:${port}`;
  return fake;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** serverless-offline 14's answer when the handler throws (observed, see invoker.ts). */
export const OFFLINE_UNHANDLED_ERROR: FakeReply = {
  status: 200,
  headers: { 'X-Amz-Function-Error': 'Unhandled' },
  body: { errorMessage: 'boom', errorType: 'Error', trace: ['Error: boom', '    at handler (x.js:1:1)'] },
};

/** A logger that records instead of printing. */
export function captureLogger(): BridgeLogger & { infos: string[]; errors: LogRecord[] } {
  const infos: string[] = [];
  const errors: LogRecord[] = [];
  return { infos, errors, info: (m) => infos.push(m), error: (r) => errors.push(r) };
}

/** Names of a throwaway quorum queue with its dead-letter exchange and queue. */
export interface TestQueues {
  queue: string;
  dlx: string;
  dead: string;
}

/** A unique name prefix, so parallel runs never share queues. */
export function uniqueName(label: string): string {
  return `bridge-test.${label}.${randomUUID().slice(0, 8)}`;
}

/** Opens an admin connection for the test to declare, publish and inspect. */
export async function openAdmin(): Promise<{ model: ChannelModel; channel: Channel }> {
  const model = await connect(AMQP_URL);
  const channel = await model.createChannel();
  return { model, channel };
}

/**
 * Declares a quorum queue like the project's setup does (delivery limit, at-least-once
 * dead-lettering to a fanout DLX bound to a dead queue).
 */
export async function declareQuorumQueue(
  channel: Channel,
  label: string,
  deliveryLimit = 2,
): Promise<TestQueues> {
  const base = uniqueName(label);
  const names = { queue: `${base}.q`, dlx: `${base}.dlx`, dead: `${base}.dead` };
  await channel.assertExchange(names.dlx, 'fanout', { durable: false, autoDelete: false });
  await channel.assertQueue(names.dead, { durable: false });
  await channel.bindQueue(names.dead, names.dlx, '');
  await channel.assertQueue(names.queue, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': deliveryLimit,
      'x-dead-letter-exchange': names.dlx,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    },
  });
  return names;
}

/** Deletes what `declareQuorumQueue` created. */
export async function deleteQueues(channel: Channel, names: TestQueues): Promise<void> {
  await channel.deleteQueue(names.queue);
  await channel.deleteQueue(names.dead);
  await channel.deleteExchange(names.dlx);
}

/** A bridge target for one test queue. */
export function testFunction(
  functionName: string,
  queues: Array<{ queue: string; batchSize?: number }>,
  concurrency = 1,
): BridgeFunction {
  return {
    functionKey: functionName,
    functionName,
    concurrency,
    invokeTimeoutMs: 10_000,
    sources: queues.map(({ queue, batchSize }) => ({
      arn: 'arn:aws:mq:eu-west-1:000000000000:broker:test:b-1',
      queue,
      virtualHost: undefined,
      batchSize: batchSize ?? 1,
    })),
  };
}

/** messageIds of all messages of all calls, in arrival order. */
export function receivedMessageIds(calls: FakeCall[]): string[] {
  return calls.flatMap((c) =>
    Object.values(c.event.rmqMessagesByQueue).flatMap((msgs) =>
      msgs.map((m) => m.basicProperties.messageId ?? ''),
    ),
  );
}
