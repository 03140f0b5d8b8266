import { decodeBody, type QueueName, topology } from '@collect/common';
import { isTaskFinished, planTask, runShard } from '@collect/core';
import type { GetMessage } from 'amqplib';
import {
  engineMessageSchema,
  toPlanMessage,
} from '../../functions/collect/src/adapters/shard-queue.rabbitmq';
import { startRun, viewTask } from '../../functions/collect/src/app/runs';
import type { TestEnv } from './test-env';
import { waitFor } from './wait';

export type TaskView = Record<string, unknown> & {
  id: string;
  state: string;
  shards: { shardId: string; state: string; lastError: string | null; attempts: number; cursor: unknown }[];
};

/**
 * Runs the engine's queues by hand, one message at a time, as the plan and run-shard consumers
 * do (delayed retries come back through the real delay queues): a test decides when work runs.
 */
export function engineDriver(env: TestEnv, tenant = 'default') {
  const t = topology(env.config.AMQP_PREFIX);
  const decode = (m: GetMessage) =>
    engineMessageSchema.parse(JSON.parse(decodeBody(m.content, m.properties.contentEncoding, 'm')));

  /** One message from the plan queue or a collector version's queue; false when all are empty. */
  async function step(): Promise<boolean> {
    for (const route of ['plan' as const, ...env.services.collectors.routes()]) {
      const m = await env.channel.get(t.queue(route), { noAck: false });
      if (m === false) continue;
      const msg = decode(m);
      if (route === 'plan') await planTask(env.services.engine, toPlanMessage(msg));
      else await runShard(env.services.engine, msg, { deadline: Date.now() + 60_000 });
      env.channel.ack(m);
      return true;
    }
    return false;
  }

  /** Takes `n` shard messages from a route's queue and runs them at once, as `n` workers would. */
  async function runAtOnce(route: QueueName, n: number) {
    const messages = [];
    for (let i = 0; i < n; i += 1) {
      const m = await env.channel.get(t.queue(route), { noAck: true });
      if (m === false) throw new Error('a shard message is missing');
      messages.push(decode(m));
    }
    return Promise.all(
      messages.map((m) => runShard(env.services.engine, m, { deadline: Date.now() + 60_000 })),
    );
  }

  /** Runs queued work until `done` holds. */
  async function runUntil(what: string, done: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      what,
      async () => {
        while (await step()) if (await done()) return true;
        return (await done()) ? true : undefined;
      },
      timeoutMs,
      50,
    );
  }

  const view = (id: string) => viewTask(env.services, tenant, id) as Promise<TaskView>;

  /** Starts a run and runs it to a final state. */
  async function runToEnd(body: Record<string, unknown>): Promise<TaskView> {
    const { taskId } = await startRun(env.services, tenant, body);
    await runUntil(`task ${taskId} to finish`, async () =>
      isTaskFinished((await view(taskId)).state as never),
    );
    return view(taskId);
  }

  return { step, runAtOnce, runUntil, view, runToEnd };
}
