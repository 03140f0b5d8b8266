// Setup-time code (schema, indexes): run by scripts/setup.ts and the tests, never bundled into a function.
import { join } from 'node:path';
import {
  assertTopology,
  createMysqlPool,
  deleteTopology,
  publishConfirmed,
  type Topology,
  topology,
} from '@collect/common';
import { type MigrationSet, migrateMysql } from '@collect/common/setup';
import type { Channel, ConfirmChannel } from 'amqplib';
import { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import { FlowLimits } from './adapters/flow-limits.mysql';
import { catalogEntries } from './catalog';
import { collectorRegistry } from './collectors/registry';
import type { Config } from './config';
import { MONGO } from './mongo-collections';

/** platform-collect's MySQL migrations (`migrations/mysql/NNN_*.sql`), its own. */
export const collectMigrations: MigrationSet = {
  scope: 'collect',
  dir: join(__dirname, '../migrations/mysql'),
};

/** Applies platform-collect's MySQL migrations not yet applied; returns their names. */
export const migrateCollect = (mysqlUrl: string): Promise<string[]> =>
  migrateMysql(mysqlUrl, collectMigrations);

/**
 * Creates the collections' indexes (idempotent). `case_detail` and `tree_snapshot` use
 * deterministic string `_id`s, so replays upsert the same document.
 */
export async function setupMongo(db: Db, taskEventTtlDays: number): Promise<void> {
  const cases = db.collection(MONGO.caseDetail);
  // A case has one document per content version now: the old one-per-case index would refuse them.
  if (await cases.indexExists('case_by_source').catch(() => false)) await cases.dropIndex('case_by_source');
  await cases.createIndexes([
    { key: { tenantId: 1, source: 1, caseId: 1, version: 1 }, name: 'case_by_version' },
    { key: { tenantId: 1, source: 1, version: 1 }, name: 'cases_of_version' },
  ]);
  await db
    .collection(MONGO.treeSnapshot)
    .createIndexes([
      { key: { tenantId: 1, source: 1, version: 1, part: 1 }, name: 'snapshot_by_version', unique: true },
    ]);
  await db.collection(MONGO.taskEvent).createIndexes([
    { key: { taskId: 1, at: 1 }, name: 'events_by_task' },
    { key: { taskId: 1, _id: 1 }, name: 'events_in_order' },
    { key: { at: 1 }, name: 'events_ttl', expireAfterSeconds: taskEventTtlDays * 86_400 },
  ]);
}

/**
 * Announces every collector this service runs to the register (queue `catalog`): its version,
 * route, settings schema and secrets. Persistent and confirmed: the register records them when
 * it consumes them, whether it is up yet or not. Returns the entries sent.
 */
export async function publishCatalog(channel: ConfirmChannel, config: Config): Promise<string[]> {
  const entries = catalogEntries(config);
  await publishConfirmed(
    channel,
    topology(config.AMQP_PREFIX).exchange,
    entries.map((e) => ({
      routingKey: 'catalog',
      messageId: `catalog/${e.type}@${e.version}`,
      body: Buffer.from(JSON.stringify(e)),
    })),
  );
  return entries.map((e) => `${e.type}@${e.version}`);
}

/** Declares the platform's queues and one per collector version this service runs (idempotent). */
export const setupQueues = (ch: Channel, config: Config): Promise<Topology> =>
  assertTopology(ch, config.AMQP_PREFIX, config.AMQP_DELIVERY_LIMIT, collectorRegistry(config).queues());

/** Removes what setupQueues declared (tests only). */
export const deleteQueues = (ch: Channel, config: Config): Promise<void> =>
  deleteTopology(ch, config.AMQP_PREFIX, collectorRegistry(config).queues());

/**
 * Publishes the flow limits from MySQL to Redis with a fresh version. A bridge that starts holds
 * every function until it has read a published version (it cannot tell "no limits" from "Redis
 * lost them"), so the platform publishes at setup; its workers, and the sweeper every minute,
 * publish again whenever Redis has none.
 */
export async function publishFlowLimits(config: Pick<Config, 'MYSQL_URL' | 'REDIS_URL' | 'REDIS_PREFIX'>) {
  const db = createMysqlPool(config.MYSQL_URL, 1);
  const redis = new Redis(config.REDIS_URL, { keyPrefix: config.REDIS_PREFIX, maxRetriesPerRequest: 3 });
  try {
    await new FlowLimits(db, redis).publish();
  } finally {
    redis.disconnect();
    await db.end();
  }
}
