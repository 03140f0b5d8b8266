import { confirmChannel, isUnavailable, mongoDb, mysqlPool, redis, topology } from '@collect/common';
import { classifyFailure, type EngineDeps, systemClock, type Task } from '@collect/core';
import type { ConfirmChannel } from 'amqplib';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Pool } from 'mysql2/promise';
import { RedisBreakers } from './adapters/breakers.redis';
import { CaseStore } from './adapters/case-store.mongo';
import { MysqlTaskRepository } from './adapters/engine-tasks.mysql';
import { RedisControlFlags, RedisRateLimiter } from './adapters/flow.redis';
import { RedisFlowControl } from './adapters/flow-control.redis';
import { FlowLimits } from './adapters/flow-limits.mysql';
import { functionConcurrency } from './adapters/function-concurrency';
import { ImportPageStore } from './adapters/import-pages';
import { ImportStaging } from './adapters/import-staging.mysql';
import { TreePageStores, type TreeWrite } from './adapters/page-stores';
import { RabbitShardQueue } from './adapters/shard-queue.rabbitmq';
import { TaskAnnouncer } from './adapters/task-announcer.rabbitmq';
import { TaskEvents } from './adapters/task-events.mongo';
import { TaskStore } from './adapters/task-store.mysql';
import { TreeCache } from './adapters/tree-cache.redis';
import { TreeRunLifecycle } from './adapters/tree-lifecycle';
import { TreePageStore } from './adapters/tree-pages';
import { TreeStore } from './adapters/tree-store.mysql';
import { TreeVersions } from './adapters/tree-versions.mysql';
import type { ChunkDeps } from './app/chunk-deps';
import type { FlowDeps } from './app/flow';
import type { ImportDeps } from './app/submit-import';
import { TreeRetention } from './app/tree-retention';
import { MongoSnapshotWriter } from './app/tree-snapshot';
import { pushImportCollector } from './collectors/push-import';
import { type CollectorSet, collectorRegistry, type TreeCollector } from './collectors/registry';
import { type Config, loadConfig } from './config';
import { flowKeysOf } from './flow-keys';

export interface Services extends ImportDeps, ChunkDeps, FlowDeps {
  treeMaxNodes: number;
  versions: TreeVersions;
  retention: TreeRetention;
  /** The collection engine, wired to MySQL, RabbitMQ, MongoDB and Redis. */
  engine: EngineDeps<TreeWrite>;
  /** The collectors a run may name (the push import is not one of them). */
  collectors: CollectorSet;
  events: TaskEvents;
}

export interface Clients {
  db: Pool;
  mongo: Db;
  redis: Redis;
  channel: () => Promise<ConfirmChannel>;
}

/** Wiring: the one place that picks adapters. Tests call it with their own clients. */
export function buildServices(config: Config, clients: Clients): Services {
  const { db, mongo } = clients;
  const trees = new TreeStore(db);
  const tasks = new TaskStore(db);
  const cases = new CaseStore(mongo);
  const cache = new TreeCache(clients.redis, config.TREE_CACHE_TTL_SECONDS);
  const events = new TaskEvents(mongo);
  const snapshots = new MongoSnapshotWriter(db, mongo);
  const collectors = collectorRegistry(config);
  const flowLimits = new FlowLimits(db, clients.redis);
  // Redis lost the published limits (a restart; it keeps nothing on disk): publish them again.
  const flowControl = new RedisFlowControl(clients.redis, undefined, undefined, () => flowLimits.publish());
  const breakers = new RedisBreakers(clients.redis, {
    threshold: config.BREAKER_FAILURES,
    coolDownMs: config.BREAKER_COOLDOWN_MS,
  });
  const queue = new RabbitShardQueue(
    clients.channel,
    topology(config.AMQP_PREFIX),
    config.AMQP_GZIP_MIN_BYTES,
    collectors.partitions(),
  );
  const versions = new TreeVersions(db);
  const retention = new TreeRetention(versions, cases, snapshots, config.TREE_VERSIONS_KEEP);
  const collected = new TreePageStore(db, trees, cases);
  const pushed = new ImportPageStore(db, trees, cases, (id) => collected.versionOf(id));
  const staging = new ImportStaging(db);
  const push = pushImportCollector();
  const engine: EngineDeps<TreeWrite> = {
    tasks: new MysqlTaskRepository(db, queue, async (conn, task) => {
      await trees.retakeSource(conn, task.tenantId, task.source, task.id, await collected.versionOf(task.id));
    }),
    queue,
    pages: new TreePageStores(collected, pushed),
    lifecycle: new TreeRunLifecycle(
      db,
      trees,
      tasks,
      collected,
      versions,
      snapshots,
      retention,
      cache,
      staging,
      new TaskAnnouncer(db, clients.channel, topology(config.AMQP_PREFIX)),
    ),
    events,
    limiter: new RedisRateLimiter(clients.redis),
    flow: flowControl,
    flowKeys: flowKeysOf,
    breakers,
    flags: new RedisControlFlags(clients.redis),
    clock: systemClock,
    collectorOf: (task: Task) => {
      if (task.collector === push.type) return push as unknown as TreeCollector;
      const c = collectors.get(task.collector, task.collectorVersion);
      if (!c)
        throw new Error(
          `no collector "${task.collector}"${task.collectorVersion ? ` version ${task.collectorVersion}` : ''} in this service`,
        );
      return c;
    },
    classify: (err) => classifyFailure(err, isUnavailable),
  };
  return {
    config,
    db,
    trees,
    tasks,
    cases,
    cache,
    events,
    snapshots,
    staging,
    channel: clients.channel,
    treeMaxNodes: config.TREE_MAX_NODES,
    versions,
    retention,
    engine,
    collectors,
    flowControl,
    breakers,
    flowLimits,
    consumerFunctions: config.CONSUMER_FUNCTIONS,
    functionConcurrency: functionConcurrency(config.FLOW_FUNCTION_TARGET, config.SERVICE_NAME, config.STAGE),
  };
}

let services: Promise<Services> | undefined;

/** The container's services, built on first use and reused by every invocation. */
export function getServices(): Promise<Services> {
  services ??= (async () => {
    const config = loadConfig();
    return buildServices(config, {
      db: mysqlPool(),
      mongo: await mongoDb(),
      redis: redis(),
      channel: () => confirmChannel(config.AMQP_URL),
    });
  })().catch((err) => {
    services = undefined;
    throw err;
  });
  return services;
}
