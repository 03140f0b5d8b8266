import { commonConfigSchema, configLoader } from '@collect/common';
import { z } from 'zod';

const intFromEnv = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

/** platform-collect's settings: the common ones and its own, each with its default (README). */
export const collectConfigSchema = commonConfigSchema.extend({
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
  /**
   * Longest a shard runs in one invocation before it hands over to a continuation message; the
   * worker also stops 30 s before its Lambda timeout, whichever comes first.
   */
  SHARD_TIME_BUDGET_MS: intFromEnv(60_000),
  /**
   * A shard RUNNING with no change for this long has no worker (an invocation never outlives its
   * function's timeout, 120 s): the sweeper (sweepStalledShards, every minute) queues it again.
   */
  SHARD_STALLED_MS: intFromEnv(300_000, 1000),
  /** Timeout of one request to a source (TestRail, http-tree). */
  COLLECT_HTTP_TIMEOUT_MS: intFromEnv(30_000),
  /** Largest answer of a source to one request; a larger one fails its shard (the source must page). */
  COLLECT_MAX_RESPONSE_BYTES: intFromEnv(32 * 1024 * 1024),
  /** INCREMENTAL runs ask for changes since the watermark minus this (clock skew with the source). */
  WATERMARK_OVERLAP_SECONDS: intFromEnv(60, 0),
  /**
   * Where flow limits `function:{name}` take effect: `bridge` (locally: the bridge reads them) or
   * `lambda` (on AWS: PutFunctionConcurrency on `{SERVICE_NAME}-{STAGE}-{name}`).
   */
  FLOW_FUNCTION_TARGET: z.enum(['bridge', 'lambda']).default('bridge'),
  /**
   * The functions a `function:{name}` flow limit may name: the service's queue consumers
   * (serverless.yml sets the list; the package test checks it against the event source mappings).
   */
  CONSUMER_FUNCTIONS: z
    .string()
    .default(
      'planTask,runShardTestrail1,runShardTestrail2,runShardHttpTree1,importChunk,importChunkDead,planDead,runShardDead,registerCatalog,registerTaskFinished,schedulerJobDisabled',
    )
    .transform((v) =>
      v
        .split(',')
        .map((f) => f.trim())
        .filter(Boolean),
    ),
  SERVICE_NAME: z.string().default('collect'),
  STAGE: z.string().default('dev'),
  /** Failures in a row of a source host that open its circuit breaker. */
  BREAKER_FAILURES: intFromEnv(5),
  /** How long an open breaker keeps a host's shards parked before its probe goes. */
  BREAKER_COOLDOWN_MS: intFromEnv(30_000, 100),
  TREE_CACHE_TTL_SECONDS: intFromEnv(3600),
  /** Published tree versions kept readable per source (?version=, the diff); older ones are purged. */
  TREE_VERSIONS_KEEP: intFromEnv(5, 1),
  /** Most nodes one tree read returns. */
  TREE_MAX_NODES: intFromEnv(20_000),
  TASK_EVENT_TTL_DAYS: intFromEnv(14),
});

export type Config = z.infer<typeof collectConfigSchema>;

export const loadConfig = configLoader(collectConfigSchema);
