import type { Channel } from 'amqplib';

/**
 * The platform's own queues; each is bound to the main exchange with its own routing key.
 * `catalog` carries collector versions from the services that run them to the register,
 * `task-finished` the ends of jobs' runs (so their dependants start), and `job-disabled` the
 * register's disabled jobs to the scheduler (so their schedules stop).
 */
export const QUEUES = ['import-chunk', 'plan', 'catalog', 'task-finished', 'job-disabled'] as const;

/**
 * A collector version's shard queue, `type@version` (routing key and queue-name suffix): each
 * version runs on its own queue, consumed by its own function, so a gray release runs the
 * candidate beside the stable version and a rollback leaves the stable queue untouched.
 */
export type CollectorRoute = `${string}@${string}`;
export type QueueName = (typeof QUEUES)[number] | CollectorRoute;

const COLLECTOR_ROUTE = /^[a-z0-9][a-z0-9-]{0,63}@[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

export function collectorRoute(type: string, version: string): CollectorRoute {
  const route = `${type}@${version}`;
  if (!COLLECTOR_ROUTE.test(route) || PARTITION_SUFFIX.test(version))
    throw new Error(`"${route}" is not a collector route (type@version, the version not ending in .p<n>)`);
  return route as CollectorRoute;
}

export const isCollectorRoute = (name: string): name is CollectorRoute => COLLECTOR_ROUTE.test(name);

/** A partition's suffix: `testrail@1.p0`. A version may not end like one (see collectorRoute). */
const PARTITION_SUFFIX = /\.p\d+$/;

/**
 * A collector version's work queues. On AWS one Amazon MQ event source mapping runs one
 * environment at a time, so a version that must run wider is split into `partitions` queues
 * (`type@version.p0` … `.p{P-1}`), each with its own mapping to the version's function; with
 * one partition the queue is the route itself. Each partition has its own dead and delay queues.
 */
export function partitionQueues(route: CollectorRoute, partitions: number): CollectorRoute[] {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 64)
    throw new Error(`${route}: partitions must be an integer from 1 to 64, got ${partitions}`);
  if (partitions === 1) return [route];
  return Array.from({ length: partitions }, (_, i) => `${route}.p${i}` as CollectorRoute);
}

/**
 * The partition a message goes to: FNV-1a of its key (a shard's `taskId#shardNo`) modulo
 * `partitions`. Stable, so a shard sent again (retry, resume) returns to the same partition, and
 * the shards of one run spread over all of them.
 */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

/**
 * Delay tiers (ms): one queue per tier and work queue, whose messages expire after the tier's
 * TTL and are dead-lettered back to the work queue. A fixed TTL per queue means no message waits
 * behind a longer one; a delay between tiers takes the largest tier below it, and the message's
 * `notBefore` sends it round again for the rest.
 */
export const DELAY_TIERS_MS = [250, 1000, 5000, 30_000, 120_000, 600_000] as const;

/** The tier a delay of `ms` waits in first. */
export function delayTier(ms: number): number {
  let tier: number = DELAY_TIERS_MS[0];
  for (const t of DELAY_TIERS_MS) if (t <= ms) tier = t;
  return tier;
}

export interface Topology {
  exchange: string;
  deadLetterExchange: string;
  queue(name: QueueName): string;
  deadQueue(name: QueueName): string;
  /** Where dead messages are kept once their failure is recorded (no consumer). */
  parkedQueue(name: QueueName): string;
  delayQueue(name: QueueName, tierMs: number): string;
}

/** Names derived from one prefix, so tests and environments can run side by side. */
export function topology(prefix: string): Topology {
  return {
    exchange: prefix,
    deadLetterExchange: `${prefix}.dlx`,
    queue: (name) => `${prefix}.${name}`,
    deadQueue: (name) => `${prefix}.${name}.dead`,
    parkedQueue: (name) => `${prefix}.${name}.parked`,
    delayQueue: (name, tierMs) => `${prefix}.${name}.delay.${tierMs}`,
  };
}

/**
 * Declares exchanges and durable quorum queues: the platform's and one per collector route. A message that fails `deliveryLimit` times is
 * dead-lettered (at-least-once, so it cannot be lost between the two queues) instead of dropped.
 * Idempotent: safe on every start.
 */
export async function assertTopology(
  ch: Channel,
  prefix: string,
  deliveryLimit: number,
  collectorRoutes: readonly CollectorRoute[] = [],
): Promise<Topology> {
  const t = topology(prefix);
  await ch.assertExchange(t.exchange, 'direct', { durable: true });
  await ch.assertExchange(t.deadLetterExchange, 'direct', { durable: true });
  for (const name of [...QUEUES, ...collectorRoutes]) {
    await ch.assertQueue(t.queue(name), {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': deliveryLimit,
        'x-dead-letter-exchange': t.deadLetterExchange,
        'x-dead-letter-routing-key': name,
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
    await ch.bindQueue(t.queue(name), t.exchange, name);
    // The dead queue has a consumer too (it records the failures); a message that consumer
    // cannot take either (say, too large to invoke a function with) moves on to `.parked`
    // after the same number of deliveries, instead of coming back for ever.
    await ch.assertQueue(t.deadQueue(name), {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': deliveryLimit,
        'x-dead-letter-exchange': t.deadLetterExchange,
        'x-dead-letter-routing-key': `${name}.parked`,
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
    await ch.bindQueue(t.deadQueue(name), t.deadLetterExchange, name);
    await ch.assertQueue(t.parkedQueue(name), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.bindQueue(t.parkedQueue(name), t.deadLetterExchange, `${name}.parked`);
    for (const tier of DELAY_TIERS_MS) {
      // Published to by name (default exchange); expired messages go straight back to the work queue.
      await ch.assertQueue(t.delayQueue(name, tier), {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-message-ttl': tier,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': t.queue(name),
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
      });
    }
  }
  return t;
}

/** Removes everything `assertTopology` declared (tests only). */
export async function deleteTopology(
  ch: Channel,
  prefix: string,
  collectorRoutes: readonly CollectorRoute[] = [],
): Promise<void> {
  const t = topology(prefix);
  for (const name of [...QUEUES, ...collectorRoutes]) {
    await ch.deleteQueue(t.queue(name));
    await ch.deleteQueue(t.deadQueue(name));
    await ch.deleteQueue(t.parkedQueue(name));
    for (const tier of DELAY_TIERS_MS) await ch.deleteQueue(t.delayQueue(name, tier));
  }
  await ch.deleteExchange(t.exchange);
  await ch.deleteExchange(t.deadLetterExchange);
}
