import { z } from 'zod';
import { ConfigError } from './errors';

export const DEV_INTERNAL_API_KEY = 'collect-local-development-only';

const intFromEnv = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

/**
 * The settings every service reads from the environment: where the stores and the broker are,
 * and how a worker treats them. A service extends this with its own (see `configLoader`).
 */
export const commonConfigSchema = z.object({
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
  /** How long a worker waits out an unreachable store before failing the delivery. */
  WORKER_UNAVAILABLE_BUDGET_MS: intFromEnv(60_000, 0),
  /**
   * The key the services sign their calls to each other with (HMAC): every service of a stage
   * must have the same. The default is for local runs only; a `prod` stage refuses it.
   */
  INTERNAL_API_KEY: z.string().min(16).default(DEV_INTERNAL_API_KEY),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type CommonConfig = z.infer<typeof commonConfigSchema>;

/**
 * A loader for a service's settings (`schema` extends `commonConfigSchema`): parses the
 * environment once per container and fails fast naming every bad variable. Nothing else in the
 * code reads `process.env`.
 */
export function configLoader<S extends z.ZodType>(schema: S): (env?: NodeJS.ProcessEnv) => z.infer<S> {
  let cached: z.infer<S> | undefined;
  return (env = process.env) => {
    if (cached !== undefined && env === process.env) return cached;
    const parsed = schema.safeParse(env);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new ConfigError(`invalid configuration: ${problems}`);
    }
    const data = parsed.data as { INTERNAL_API_KEY?: string };
    if (env.STAGE === 'prod' && data.INTERNAL_API_KEY === DEV_INTERNAL_API_KEY)
      throw new ConfigError(
        'invalid configuration: INTERNAL_API_KEY must be set (not the local default) on stage prod',
      );
    if (env === process.env) cached = parsed.data;
    return parsed.data;
  };
}

/** The common settings (the clients and the logger read these). */
export const loadConfig = configLoader(commonConfigSchema);
