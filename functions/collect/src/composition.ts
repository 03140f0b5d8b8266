import { confirmChannel, loadConfig, mongoDb, mysqlPool, redis } from '@collect/common';
import { CaseStore } from './adapters/case-store.mongo';
import { TaskEvents } from './adapters/task-events.mongo';
import { TaskStore } from './adapters/task-store.mysql';
import { TreeCache } from './adapters/tree-cache.redis';
import { TreeStore } from './adapters/tree-store.mysql';
import type { ChunkDeps } from './app/apply-chunk';
import type { ImportDeps } from './app/submit-import';
import { MongoSnapshotWriter } from './app/tree-snapshot';

/**
 * Wiring: the one place that picks adapters. Built once per container on first use and reused
 * by every invocation (clients are memoised in @collect/common).
 */
export interface Services extends ImportDeps, ChunkDeps {
  treeMaxNodes: number;
}

let services: Promise<Services> | undefined;

export function getServices(): Promise<Services> {
  services ??= (async () => {
    const config = loadConfig();
    const db = mysqlPool();
    const mongo = await mongoDb();
    return {
      config,
      db,
      trees: new TreeStore(db),
      tasks: new TaskStore(db),
      cases: new CaseStore(mongo),
      cache: new TreeCache(redis(), config.TREE_CACHE_TTL_SECONDS),
      events: new TaskEvents(mongo),
      snapshots: new MongoSnapshotWriter(db, mongo),
      channel: () => confirmChannel(config.AMQP_URL),
      treeMaxNodes: config.TREE_MAX_NODES,
    };
  })().catch((err) => {
    services = undefined;
    throw err;
  });
  return services;
}
