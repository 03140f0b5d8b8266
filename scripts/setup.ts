/**
 * Applies every schema change: MySQL migrations, MongoDB indexes, RabbitMQ exchanges and queues.
 * Idempotent; `npm start` and the tests run it. Reads the same environment as the functions.
 */
import { closeMongo, mongoDb } from '@collect/common';
import amqp from 'amqplib';
import { loadConfig } from '../functions/collect/src/config';
import {
  migrateCollect,
  publishCatalog,
  publishFlowLimits,
  setupMongo,
  setupQueues,
} from '../functions/collect/src/setup';
import { migrateRegister } from '../functions/register/src/setup';
import { migrateScheduler } from '../functions/scheduler/src/setup';

export async function setup(): Promise<void> {
  const cfg = loadConfig();
  // Each service's own migrations (recorded per service).
  const applied = [
    ...(await migrateCollect(cfg.MYSQL_URL)),
    ...(await migrateRegister(cfg.MYSQL_URL)),
    ...(await migrateScheduler(cfg.MYSQL_URL)),
  ];
  console.log(`mysql: ${applied.length ? `applied ${applied.join(', ')}` : 'schema up to date'}`);
  await publishFlowLimits(cfg);
  console.log('redis: flow limits published');
  await setupMongo(await mongoDb(), cfg.TASK_EVENT_TTL_DAYS);
  await closeMongo();
  console.log('mongodb: indexes ensured');
  const conn = await amqp.connect(cfg.AMQP_URL);
  // A refused declaration closes the channel and is also emitted as 'error'; the rejected call
  // below reports it, so the events need a listener rather than crashing the process.
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    const t = await setupQueues(ch, cfg).catch((err) => {
      // RabbitMQ refuses to redeclare a queue with other arguments (406 PRECONDITION_FAILED):
      // one an older version of the platform created. Say which, rather than a bare 406.
      if ((err as { code?: number }).code === 406) {
        throw new Error(
          `${(err as Error).message}\n  A queue under the prefix "${cfg.AMQP_PREFIX}" was declared by an older version with ` +
            'other arguments. Move or drop its messages, delete it (rabbitmqctl delete_queue <name>) and run again, ' +
            'or set AMQP_PREFIX to start afresh.',
        );
      }
      throw err;
    });
    console.log(
      `rabbitmq: exchange ${t.exchange}, queue ${t.queue('import-chunk')} (quorum, delivery limit ${cfg.AMQP_DELIVERY_LIMIT})`,
    );
    // Each collector service announces its collectors; the register records them.
    const confirm = await conn.createConfirmChannel();
    console.log(`catalog: announced ${(await publishCatalog(confirm, cfg)).join(', ')}`);
    await confirm.close();
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
