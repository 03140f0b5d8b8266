import type { Redis } from 'ioredis';

/**
 * Read cache for trees and cases. Keys carry the tree version they were read at, and a published
 * version never changes (a run writes rows of its own, newer version), so an entry is never
 * stale and nothing is ever invalidated: a new version is read under new keys, old entries
 * expire by TTL. When Redis cannot be reached, readers go to the stores (slower, never wrong).
 */
export class TreeCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
  ) {}

  // '/' separates the parts: tenants, sources and node ids cannot contain it, so two different
  // (tenant, source, version, key) never make one Redis key (':' may be in a source).
  private entryKey(tenantId: string, source: string, version: number, key: string): string {
    return `tree/${tenantId}/${source}/v${version}/${key}`;
  }

  async get(tenantId: string, source: string, version: number, key: string): Promise<string | null> {
    return this.redis.get(this.entryKey(tenantId, source, version, key)).catch(() => null);
  }

  async set(tenantId: string, source: string, version: number, key: string, value: string): Promise<void> {
    await this.redis
      .set(this.entryKey(tenantId, source, version, key), value, 'EX', this.ttlSeconds)
      .catch(() => undefined);
  }
}
