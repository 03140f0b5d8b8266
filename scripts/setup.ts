/**
 * Applies every schema change: MySQL migrations, MongoDB indexes, RabbitMQ exchanges and queues.
 * Idempotent; `npm start` and the tests run it. Reads the same environment as the functions.
 */
import { assertTopology, closeMongo, loadConfig, mongoDb } from '@collect/common';
import { migrateMysql, setupMongo } from '@collect/common/setup';
import amqp from 'amqplib';

export async function setup(): Promise<void> {
  const cfg = loadConfig();
  const applied = await migrateMysql(cfg.MYSQL_URL);
  console.log(`mysql: ${applied.length ? `applied ${applied.join(', ')}` : 'schema up to date'}`);
  await setupMongo(await mongoDb(), cfg.TASK_EVENT_TTL_DAYS);
  await closeMongo();
  console.log('mongodb: indexes ensured');
  const conn = await amqp.connect(cfg.AMQP_URL);
  try {
    const ch = await conn.createChannel();
    const t = await assertTopology(ch, cfg.AMQP_PREFIX, cfg.AMQP_DELIVERY_LIMIT);
    console.log(
      `rabbitmq: exchange ${t.exchange}, queue ${t.queue('import-chunk')} (quorum, delivery limit ${cfg.AMQP_DELIVERY_LIMIT})`,
    );
  } finally {
    await conn.close();
  }
}

if (require.main === module) {
  setup().catch((err) => {
    console.error(`setup failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
