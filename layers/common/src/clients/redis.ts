import { Redis } from 'ioredis';
import { loadConfig } from '../config';

let client: Redis | undefined;

/** The container's Redis client; every key is prefixed with REDIS_PREFIX. */
export function redis(): Redis {
  if (!client) {
    const cfg = loadConfig();
    client = new Redis(cfg.REDIS_URL, {
      keyPrefix: cfg.REDIS_PREFIX,
      maxRetriesPerRequest: 3,
      lazyConnect: false,
    });
  }
  return client;
}

export async function closeRedis(): Promise<void> {
  const c = client;
  client = undefined;
  await c?.quit();
}
