/**
 * Removes what interrupted test or benchmark runs left behind: every `collect_it_*` and
 * `collect_e2e_*` MySQL database, MongoDB database, Redis key prefix and RabbitMQ
 * exchange/queue set. A finished run removes its own; this is for runs that were killed.
 * `npm run clean:test-data`
 */
import { deleteTopology } from '@collect/common';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import { collectorRegistry } from '../functions/collect/src/collectors/registry';
import { loadConfig } from '../functions/collect/src/config';

const LEFTOVER = /^collect_(it|e2e)_[0-9a-f]+$/;

async function main(): Promise<void> {
  const cfg = loadConfig();
  const server = new URL(cfg.MYSQL_URL);
  server.pathname = '/';
  const db = await mysql.createConnection({ uri: server.toString() });
  const [rows] = await db.query<mysql.RowDataPacket[]>('SHOW DATABASES');
  const names = rows.map((r) => String(Object.values(r)[0])).filter((n) => LEFTOVER.test(n));
  const mongo = await new MongoClient(cfg.MONGO_URL).connect();
  const mongoNames = (await mongo.db().admin().listDatabases()).databases
    .map((d) => d.name)
    .filter((n) => LEFTOVER.test(n));
  const redis = new Redis(cfg.REDIS_URL);
  const conn = await amqp.connect(cfg.AMQP_URL);
  for (const name of new Set([...names, ...mongoNames])) {
    await db.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await mongo.db(name).dropDatabase();
    const keys = await redis.keys(`${name}:*`);
    if (keys.length > 0) await redis.del(...keys);
    // A channel dies with its first error (an absent queue), so each attempt gets its own.
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await deleteTopology(ch, name, collectorRegistry(cfg).queues()).catch(() => undefined);
    console.log(`removed ${name}`);
  }
  await conn.close().catch(() => undefined);
  await redis.quit();
  await mongo.close();
  await db.end();
}

main().catch((err) => {
  console.error(
    `clean:test-data: ${err instanceof Error ? err.message : String(err)} (are the services up? npm run services)`,
  );
  process.exit(1);
});
