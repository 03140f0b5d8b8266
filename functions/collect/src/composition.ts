import { type Config, confirmChannel, loadConfig, mongoDb, mysqlPool, redis } from '@collect/common';
import type { ConfirmChannel } from 'amqplib';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Pool } from 'mysql2/promise';
import { CaseStore } from './adapters/case-store.mongo';
import { ImportStaging } from './adapters/import-staging.mysql';
import { TaskEvents } from './adapters/task-events.mongo';
import { TaskStore } from './adapters/task-store.mysql';
import { TreeCache } from './adapters/tree-cache.redis';
import { TreeStore } from './adapters/tree-store.mysql';
import type { ChunkDeps } from './app/chunk-deps';
import type { ImportDeps } from './app/submit-import';
import { MongoSnapshotWriter } from './app/tree-snapshot';

export interface Services extends ImportDeps, ChunkDeps {
  treeMaxNodes: number;
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
  return {
    config,
    db,
    trees: new TreeStore(db),
    tasks: new TaskStore(db),
    cases: new CaseStore(mongo),
    cache: new TreeCache(clients.redis, config.TREE_CACHE_TTL_SECONDS),
    events: new TaskEvents(mongo),
    snapshots: new MongoSnapshotWriter(db, mongo),
    staging: new ImportStaging(db),
    channel: clients.channel,
    treeMaxNodes: config.TREE_MAX_NODES,
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
