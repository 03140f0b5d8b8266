import { z } from 'zod';
import { ConfigError } from './errors';

const intFromEnv = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

/**
 * Every setting the platform reads from the environment, with its default.
 * Parsed once per container; nothing else in the code reads `process.env`.
 */
export const configSchema = z.object({
  MYSQL_URL: z.string().url().default('mysql://root@127.0.0.1:3306/collect'),
  MONGO_URL: z.string().default('mongodb://127.0.0.1:27018/collect'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379/0'),
  AMQP_URL: z.string().default('amqp://guest:guest@127.0.0.1:5672'),
  /** Key prefix for every Redis key, so several environments can share one Redis. */
  REDIS_PREFIX: z.string().default('collect:'),
  /** Prefix of the RabbitMQ exchange and queue names. */
  AMQP_PREFIX: z.string().default('collect'),
  /** Deliveries of one message before RabbitMQ dead-letters it. */
  AMQP_DELIVERY_LIMIT: intFromEnv(5),
  /** Message bodies of at least this many bytes are published gzipped (0 = never). */
  AMQP_GZIP_MIN_BYTES: intFromEnv(16 * 1024, 0),
  MYSQL_POOL_SIZE: intFromEnv(4),
  IMPORT_CHUNK_SIZE: intFromEnv(1000),
  /** Most nodes (upserts plus deletes) in one request or part; larger trees come in parts. */
  IMPORT_MAX_NODES: intFromEnv(50_000),
  IMPORT_MAX_DEPTH: intFromEnv(32),
  /** Same as API Gateway's limit (serverless-offline answers 413 past 10 MB itself). */
  IMPORT_MAX_BODY_BYTES: intFromEnv(10 * 1024 * 1024),
  /**
   * Backpressure for imports in parts: a part waits (up to IMPORT_QUEUE_WAIT_MS, then 429) while
   * more than this many shard messages wait in the queue, so RabbitMQ never buffers a whole tree.
   */
  IMPORT_MAX_QUEUED_SHARDS: intFromEnv(16),
  IMPORT_QUEUE_WAIT_MS: intFromEnv(20_000, 0),
  /** An import of a source with no progress for this long no longer holds the source. */
  IMPORT_STALE_SECONDS: intFromEnv(900),
  /**
   * A shard whose message RabbitMQ has not confirmed this long after it was recorded is lost
   * (the API died in between): it is failed and its import no longer holds the source. Longer
   * than any API invocation (29 s).
   */
  IMPORT_ENQUEUE_TIMEOUT_SECONDS: intFromEnv(60),
  /** How long a worker waits out an unreachable store before failing the delivery. */
  WORKER_UNAVAILABLE_BUDGET_MS: intFromEnv(60_000, 0),
  /**
   * Longest a shard runs in one invocation before it hands over to a continuation message; the
   * worker also stops 30 s before its Lambda timeout, whichever comes first.
   */
  SHARD_TIME_BUDGET_MS: intFromEnv(60_000),
  /** Timeout of one request to a source (TestRail, http-tree). */
  COLLECT_HTTP_TIMEOUT_MS: intFromEnv(30_000),
  /** INCREMENTAL runs ask for changes since the watermark minus this (clock skew with the source). */
  WATERMARK_OVERLAP_SECONDS: intFromEnv(60, 0),
  TREE_CACHE_TTL_SECONDS: intFromEnv(3600),
  /** Most nodes one tree read returns. */
  TREE_MAX_NODES: intFromEnv(20_000),
  TASK_EVENT_TTL_DAYS: intFromEnv(14),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof configSchema>;

let cached: Config | undefined;

/** Parses the environment once; fails fast naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  if (cached && env === process.env) return cached;
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  if (env === process.env) cached = parsed.data;
  return parsed.data;
}
