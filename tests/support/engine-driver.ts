import { type CollectorRoute, decodeBody, partitionQueues, topology } from '@collect/common';
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
    for (const queue of ['plan' as const, ...env.services.collectors.queues()]) {
      const m = await env.channel.get(t.queue(queue), { noAck: false });
      if (m === false) continue;
      const msg = decode(m);
      if (queue === 'plan') await planTask(env.services.engine, toPlanMessage(msg));
      else await runShard(env.services.engine, msg, { deadline: Date.now() + 60_000 });
      env.channel.ack(m);
      return true;
    }
    return false;
  }

  /** The work queues of a route: its partitions' when it has several. */
  const queuesOf = (route: CollectorRoute): CollectorRoute[] =>
    partitionQueues(route, env.services.collectors.partitions().get(route) ?? 1);

  /** Takes `n` shard messages from a route's queues and runs them at once, as `n` workers would. */
  async function runAtOnce(route: CollectorRoute, n: number) {
    const messages = [];
    for (const queue of queuesOf(route)) {
      while (messages.length < n) {
        const m = await env.channel.get(t.queue(queue), { noAck: true });
        if (m === false) break;
        messages.push(decode(m));
      }
    }
    if (messages.length < n) throw new Error(`${n - messages.length} shard messages are missing`);
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

  return { step, queuesOf, runAtOnce, runUntil, view, runToEnd };
}
