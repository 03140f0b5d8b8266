import type { Redis } from 'ioredis';

/**
 * Read cache for trees and cases. Keys carry the source's generation: a writer bumps the
 * generation after it committed, so every later reader misses and reads fresh data, and a reader
 * that raced the write can only fill a key nobody reads any more (it expires by TTL). This is
 * what makes the cache never stale after an import, without deleting key patterns.
 */
export class TreeCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
  ) {}

  private genKey(tenantId: string, source: string): string {
    return `gen:${tenantId}:${source}`;
  }

  async generation(tenantId: string, source: string): Promise<string> {
    return (await this.redis.get(this.genKey(tenantId, source))) ?? '0';
  }

  /** Invalidates everything cached for the source. */
  async invalidate(tenantId: string, source: string): Promise<void> {
    await this.redis.incr(this.genKey(tenantId, source));
  }

  async get(tenantId: string, source: string, gen: string, key: string): Promise<string | null> {
    return this.redis.get(`tree:${tenantId}:${source}:${gen}:${key}`);
  }

  async set(tenantId: string, source: string, gen: string, key: string, value: string): Promise<void> {
    await this.redis.set(`tree:${tenantId}:${source}:${gen}:${key}`, value, 'EX', this.ttlSeconds);
  }
}
