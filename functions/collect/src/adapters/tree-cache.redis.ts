import type { Redis } from 'ioredis';

/**
 * Keeps the larger of the version stored and the one given, for ARGV[2] seconds: a reader that
 * read an older version from MySQL can never put it back over a newer one a publisher set.
 */
const KEEP_MAX = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) >= cur then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return 1`;

/**
 * Read cache for trees and cases. Keys carry the tree version they were read at, and a published
 * version never changes (a run writes rows of its own, newer version), so an entry is never
 * stale and nothing is ever invalidated: a new version is read under new keys, old entries
 * expire by TTL. The source's published version is cached too, for `publishedTtlSeconds`: the
 * publisher sets it right after its commit, and it only ever grows, so a reader sees a new
 * version at once, or at worst that many seconds late if the publisher died in between. When
 * Redis cannot be reached, readers go to the stores (slower, never wrong).
 */
export class TreeCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
    private readonly publishedTtlSeconds = 5,
  ) {}

  // '/' separates the parts: tenants, sources and node ids cannot contain it, so two different
  // (tenant, source, version, key) never make one Redis key (':' may be in a source).
  private entryKey(tenantId: string, source: string, version: number, key: string): string {
    return `tree/${tenantId}/${source}/v${version}/${key}`;
  }

  private publishedKey(tenantId: string, source: string): string {
    return `published/${tenantId}/${source}`;
  }

  /** The source's published version as last noted, or undefined (not noted, or Redis unreachable). */
  async published(tenantId: string, source: string): Promise<number | undefined> {
    const v = await this.redis.get(this.publishedKey(tenantId, source)).catch(() => null);
    return v === null ? undefined : Number(v);
  }

  /** Notes that `version` is published (or was read as such); a lower one never replaces a higher. */
  async notePublished(tenantId: string, source: string, version: number): Promise<void> {
    await this.redis
      .eval(KEEP_MAX, 1, this.publishedKey(tenantId, source), version, this.publishedTtlSeconds)
      .catch(() => undefined);
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
