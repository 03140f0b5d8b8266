import { logger } from '@collect/common';
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

  /** The Redis key (before the client's prefix) holding a source's generation. */
  static generationKey(tenantId: string, source: string): string {
    return `gen/${tenantId}/${source}`;
  }

  private genKey(tenantId: string, source: string): string {
    return TreeCache.generationKey(tenantId, source);
  }

  // '/' separates the parts: tenants, sources and node ids cannot contain it, so two different
  // (tenant, source, generation, key) never make one Redis key (':' may be in a source).
  private entryKey(tenantId: string, source: string, gen: string, key: string): string {
    return `tree/${tenantId}/${source}/${gen}/${key}`;
  }

  /**
   * The source's current generation, or `undefined` when Redis cannot be reached: readers then
   * go to the stores directly (slower, never wrong) instead of failing.
   */
  async generation(tenantId: string, source: string): Promise<string | undefined> {
    try {
      return (await this.redis.get(this.genKey(tenantId, source))) ?? '0';
    } catch (err) {
      logger().warn({ err }, 'tree cache unavailable; reading from the stores');
      return undefined;
    }
  }

  /**
   * Invalidates everything cached for the source. Unlike reads, this must not be skipped: the
   * error reaches the worker, which retries it with the rest of the shard.
   */
  async invalidate(tenantId: string, source: string): Promise<void> {
    await this.redis.incr(this.genKey(tenantId, source));
  }

  async get(tenantId: string, source: string, gen: string | undefined, key: string): Promise<string | null> {
    if (gen === undefined) return null;
    return this.redis.get(this.entryKey(tenantId, source, gen, key)).catch(() => null);
  }

  async set(
    tenantId: string,
    source: string,
    gen: string | undefined,
    key: string,
    value: string,
  ): Promise<void> {
    if (gen === undefined) return;
    await this.redis
      .set(this.entryKey(tenantId, source, gen, key), value, 'EX', this.ttlSeconds)
      .catch(() => undefined);
  }
}
