import { randomBytes } from 'node:crypto';
import { createMysqlPool, decodeBody, topology } from '@collect/common';
import { dropMysqlDatabase } from '@collect/common/setup';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage } from 'amqplib';
import { Redis } from 'ioredis';
import { type Db, MongoClient } from 'mongodb';
import type { Pool } from 'mysql2/promise';
import {
  type ImportQueueMessage,
  importQueueMessageSchema,
} from '../../functions/collect/src/app/apply-chunk';
import { buildServices, type Services } from '../../functions/collect/src/composition';
import { type Config, collectConfigSchema as configSchema } from '../../functions/collect/src/config';
import { type ImportChunkMessage, importChunkMessageSchema } from '../../functions/collect/src/schemas';
import { deleteQueues, migrateCollect, setupMongo, setupQueues } from '../../functions/collect/src/setup';
import { migrateRegister } from '../../functions/register/src/setup';
import { migrateScheduler } from '../../functions/scheduler/src/setup';
import { withDatabase } from './stores';

export interface TestEnv {
  id: string;
  config: Config;
  db: Pool;
  mongo: Db;
  redis: Redis;
  amqp: ChannelModel;
  channel: ConfirmChannel;
  services: Services;
  close(): Promise<void>;
}

/**
 * A private world for one test file, on the real servers: its own MySQL database, MongoDB
 * database, Redis key prefix and RabbitMQ exchange/queues. `close()` removes all of it.
 */
export async function createTestEnv(overrides: Partial<Record<keyof Config, string>> = {}): Promise<TestEnv> {
  const id = `it_${randomBytes(4).toString('hex')}`;
  const base = configSchema.parse(process.env);
  const config = configSchema.parse({
    ...process.env,
    MYSQL_URL: withDatabase(base.MYSQL_URL, `collect_${id}`),
    MONGO_URL: withDatabase(base.MONGO_URL, `collect_${id}`),
    REDIS_PREFIX: `collect_${id}:`,
    AMQP_PREFIX: `collect_${id}`,
    LOG_LEVEL: 'silent',
    ...overrides,
  });
  await migrateCollect(config.MYSQL_URL);
  await migrateRegister(config.MYSQL_URL);
  await migrateScheduler(config.MYSQL_URL);
  const db = createMysqlPool(config.MYSQL_URL, 4);
  const mongoClient = await new MongoClient(config.MONGO_URL).connect();
  const mongo = mongoClient.db();
  await setupMongo(mongo, 1);
  const redis = new Redis(config.REDIS_URL, { keyPrefix: config.REDIS_PREFIX });
  const conn = await amqp.connect(config.AMQP_URL);
  const channel = await conn.createConfirmChannel();
  await setupQueues(channel, config);
  const services = buildServices(config, { db, mongo, redis, channel: async () => channel });
  return {
    id,
    config,
    db,
    mongo,
    redis,
    amqp: conn,
    channel,
    services,
    async close() {
      await deleteQueues(channel, config).catch(() => undefined);
      await conn.close().catch(() => undefined);
      const keys = await redis.keys(`${config.REDIS_PREFIX}*`);
      if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(config.REDIS_PREFIX.length)));
      await redis.quit();
      await mongo.dropDatabase();
      await mongoClient.close();
      await db.end();
      await dropMysqlDatabase(config.MYSQL_URL);
    },
  };
}

/** Takes every message waiting on the import queue (acked: the test applies them itself). */
export async function takeShardMessages(env: TestEnv): Promise<GetMessage[]> {
  const queue = topology(env.config.AMQP_PREFIX).queue('import-chunk');
  const out: GetMessage[] = [];
  for (;;) {
    const m = await env.channel.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m);
  }
}

/** The shard a message carries, its content encoding undone. */
export const decodeShard = (m: GetMessage): ImportChunkMessage =>
  importChunkMessageSchema.parse(JSON.parse(decodeBody(m.content, m.properties.contentEncoding, 'shard')));

/** Any message of the import queue (as the import published it, or as the engine queued it again). */
export const decodeImportMessage = (m: GetMessage): ImportQueueMessage =>
  importQueueMessageSchema.parse(JSON.parse(decodeBody(m.content, m.properties.contentEncoding, 'shard')));
