import {
  assertTopology,
  type CollectorRoute,
  decodeBody,
  deleteTopology,
  partitionQueues,
  type QueueName,
  topology,
} from '@collect/common';
import type { Shard, ShardMessage, Task } from '@collect/core';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBreakers } from '../../functions/collect/src/adapters/breakers.redis';
import { MysqlTaskRepository, PUSH_COLLECTOR } from '../../functions/collect/src/adapters/engine-tasks.mysql';
import { RedisControlFlags, RedisRateLimiter } from '../../functions/collect/src/adapters/flow.redis';
import { RedisFlowControl } from '../../functions/collect/src/adapters/flow-control.redis';
import { FlowLimits } from '../../functions/collect/src/adapters/flow-limits.mysql';
import type { TreeWrite } from '../../functions/collect/src/adapters/page-stores';
import {
  engineMessageSchema,
  RabbitShardQueue,
} from '../../functions/collect/src/adapters/shard-queue.rabbitmq';
import { TaskEvents } from '../../functions/collect/src/adapters/task-events.mongo';
import type { TreeRecord } from '../../functions/collect/src/adapters/tree-pages';
import { hashAndSerialize } from '../../functions/collect/src/app/tree-walk';
import {
  breakersContract,
  CONTRACT_ROUTE,
  controlFlagsContract,
  eventLogContract,
  flowControlContract,
  pageStoreContract,
  rateLimiterContract,
  shardQueueContract,
  taskRepositoryContract,
} from '../../layers/collect-core/tests/contracts/ports';
import { createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait';

// The real adapters keep the contracts the in-memory ones keep (layers/collect-core/tests/contracts.test.ts).
let env: TestEnv;
/** The contract's route on one queue, and a route split over three partitions. */
const PARTITIONED = 'contract-parts@1' as CollectorRoute;
const routePartitions = new Map<CollectorRoute, number>([
  [CONTRACT_ROUTE as CollectorRoute, 1],
  [PARTITIONED, 3],
]);
const contractRoutes: CollectorRoute[] = [...routePartitions].flatMap(([r, p]) => partitionQueues(r, p));
beforeAll(async () => {
  env = await createTestEnv();
  await assertTopology(env.channel, env.config.AMQP_PREFIX, env.config.AMQP_DELIVERY_LIMIT, contractRoutes);
});
afterAll(async () => {
  if (env) await deleteTopology(env.channel, env.config.AMQP_PREFIX, contractRoutes).catch(() => undefined);
  await env?.close();
});

const rabbitQueue = () =>
  new RabbitShardQueue(
    env.services.channel,
    topology(env.config.AMQP_PREFIX),
    env.config.AMQP_GZIP_MIN_BYTES,
    routePartitions,
  );

/** Every message now on a route's work queue, waiting up to `ms` for the first. */
async function take(route: string, ms: number): Promise<ShardMessage[]> {
  const queue = topology(env.config.AMQP_PREFIX).queue(route as QueueName);
  const out: ShardMessage[] = [];
  const drain = async () => {
    for (;;) {
      const m = await env.channel.get(queue, { noAck: true });
      if (m === false) return;
      out.push(
        engineMessageSchema.parse(JSON.parse(decodeBody(m.content, m.properties.contentEncoding, 'm'))),
      );
    }
  };
  await drain();
  if (out.length === 0 && ms > 0)
    await waitFor(
      'a message',
      async () => {
        await drain();
        return out.length > 0 ? true : undefined;
      },
      ms,
      50,
    );
  return out;
}

async function seed(task: Task, shards: Shard[]): Promise<void> {
  await env.db.query(
    `INSERT INTO collect_task (id, tenant_id, kind, collector, source, mode, state, requested, sealed, settings,
                               range_json, strategy, concurrency, last_error, tree_version)
     VALUES (?, ?, 'collect', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
    [
      task.id,
      task.tenantId,
      task.collector,
      task.source,
      task.mode,
      task.state,
      task.requested,
      task.sealed,
      JSON.stringify(task.settings),
      task.range ? JSON.stringify(task.range) : null,
      JSON.stringify(task.strategy),
      task.strategy.concurrency,
      task.lastError,
    ],
  );
  // The task holds its source at tree version 1, as beginImport would have given it.
  await env.db.query(
    `INSERT INTO tree_source (tenant_id, source, last_version, active_task_id) VALUES (?, ?, 1, ?)
     ON DUPLICATE KEY UPDATE last_version = 1, active_task_id = VALUES(active_task_id)`,
    [task.tenantId, task.source, task.id],
  );
  for (const s of shards)
    await env.db.query(
      `INSERT INTO collect_shard (task_id, shard_no, kind, state, requested, epoch, gen, attempts, spec, cursor_json,
                                  pages, done_nodes, failed_nodes, last_error)
       VALUES (?, ?, 'pull', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        s.taskId,
        s.shardNo,
        s.state,
        s.requested,
        s.epoch,
        s.gen,
        s.attempts,
        JSON.stringify(s.spec),
        s.cursor === null ? null : JSON.stringify(s.cursor),
        s.pages,
        s.records,
        s.failedRecords,
        s.lastError,
      ],
    );
}

taskRepositoryContract('MySQL + RabbitMQ', () => {
  const repo = new MysqlTaskRepository(env.db, rabbitQueue(), async () => undefined);
  return { repo, seed, published: () => take(CONTRACT_ROUTE, 0) };
});
controlFlagsContract('Redis', () => new RedisControlFlags(env.redis));
rateLimiterContract('Redis', () => new RedisRateLimiter(env.redis));
eventLogContract('MongoDB', () => new TaskEvents(env.mongo));
const redisBreakers: RedisBreakers[] = [];
afterAll(async () => {
  for (const b of redisBreakers) await b.close();
});
breakersContract('Redis', () => {
  const breakers = new RedisBreakers(env.redis, { threshold: 2, coolDownMs: 300 });
  redisBreakers.push(breakers);
  return {
    breakers,
    expire: async (ms) => {
      const until = Date.now() + ms + 20;
      await waitFor('the cool-down to pass', async () => Date.now() >= until || undefined, ms + 5000, 20);
    },
  };
});
flowControlContract('Redis (limits from MySQL)', () => {
  const flow = new RedisFlowControl(env.redis, 0);
  const limits = new FlowLimits(env.db, env.redis);
  return {
    flow,
    setLimit: async (key, limit) => void (await limits.put(key, limit)),
    inUse: (key) => flow.inUse(key),
    expire: async (ms) => {
      const until = Date.now() + ms + 50;
      await waitFor('the leases to run out', async () => Date.now() >= until || undefined, ms + 5000, 20);
    },
    adapted: (key) => flow.adaptedRate(key),
  };
});
shardQueueContract('RabbitMQ', () => ({
  queue: rabbitQueue(),
  take: (route, ms) => take(route, ms),
}));

/** The cases a run stored so far (its own rows: published only when it completes). */
const liveCases = async (task: Task): Promise<string[]> => {
  const [rows] = await env.db.query<RowDataPacket[]>(
    'SELECT id FROM test_case WHERE tenant_id = ? AND source = ? AND valid_to IS NULL AND deleted = 0 ORDER BY id',
    [task.tenantId, task.source],
  );
  return rows.map((r) => r.id as string);
};

pageStoreContract<TreeWrite>('MySQL + MongoDB (collected tree records)', () => {
  const repo = new MysqlTaskRepository(env.db, rabbitQueue(), async () => undefined);
  let n = 0;
  return {
    pages: env.services.engine.pages,
    repo,
    async seed(task, shards) {
      await seed(task, shards);
      await env.services.engine.pages.writePlanned(task, [
        { id: 'D', type: 'DIRECTORY', parentId: null, name: 'Directory', position: 0 },
      ]);
    },
    page: (_task, count) =>
      Array.from({ length: count }, (): TreeRecord => {
        n += 1;
        return {
          id: `c${n}`,
          type: 'CASE',
          parentId: 'D',
          name: `Case ${n}`,
          position: n,
          content: { steps: [] },
        };
      }),
    stored: liveCases,
    keepsCursor: true,
  };
});

pageStoreContract<TreeWrite>('MySQL + MongoDB (pushed import chunks)', () => {
  const repo = new MysqlTaskRepository(env.db, rabbitQueue(), async () => undefined);
  let n = 0;
  return {
    pages: env.services.engine.pages,
    repo,
    seed,
    page: (_task, count) => [
      {
        upserts: Array.from({ length: count }, () => {
          n += 1;
          return hashAndSerialize({
            id: `p${n}`,
            type: 'CASE',
            parentId: null,
            name: `Pushed ${n}`,
            path: `/p${n}`,
            level: 1,
            position: n,
          }).node;
        }),
        deletes: [],
      },
    ],
    stored: liveCases,
    keepsCursor: false,
    collector: PUSH_COLLECTOR,
  };
});

describe('a route split over partitions (RabbitMQ)', () => {
  it('spreads the shards of a run over its queues, and sends a shard back to its own partition', async () => {
    const queue = rabbitQueue();
    const message = (shardNo: number, gen = 0) => ({ taskId: 'parts-task', shardNo, gen });
    await queue.publish(Array.from({ length: 30 }, (_, i) => ({ route: PARTITIONED, message: message(i) })));
    const firstRound = new Map<number, string>();
    for (const q of partitionQueues(PARTITIONED, 3)) {
      const got = await take(q, 5_000);
      // 30 shards over 3 partitions: each gets some (FNV-1a spreads them; this split is fixed).
      expect(got.length).toBeGreaterThan(0);
      for (const m of got) firstRound.set(m.shardNo, q);
    }
    expect([...firstRound.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));

    // A retry through a delay queue comes back to the partition the shard first went to.
    await queue.publish(
      [0, 1, 2, 3, 4].map((n) => ({ route: PARTITIONED, message: message(n, 1), delayMs: 300 })),
    );
    const secondRound = new Map<number, string>();
    await waitFor(
      'the delayed shards',
      async () => {
        for (const q of partitionQueues(PARTITIONED, 3))
          for (const m of await take(q, 0)) secondRound.set(m.shardNo, q);
        return secondRound.size === 5 ? true : undefined;
      },
      10_000,
      100,
    );
    for (const [shardNo, q] of secondRound) expect(q).toBe(firstRound.get(shardNo));
  });

  it('refuses a route it has no queue for', async () => {
    await expect(
      rabbitQueue().publish([{ route: 'nobody@1', message: { taskId: 't', shardNo: 0, gen: 0 } }]),
    ).rejects.toThrow(/unknown route/);
  });
});
