import type { ControlFlags, RateLimiter } from '@collect/core';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Flow tokens shared by every worker, from rate-limiter-flexible (a well-kept limiter with an
 * atomic Redis implementation): `perSecond` requests per second per key, in one-second windows
 * (a rate below 1 becomes one request per ⌈1/rate⌉ seconds).
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly limiters = new Map<string, RateLimiterRedis>();
  constructor(private readonly redis: Redis) {}

  private limiter(perSecond: number): RateLimiterRedis {
    const points = perSecond >= 1 ? Math.floor(perSecond) : 1;
    const duration = perSecond >= 1 ? 1 : Math.ceil(1 / perSecond);
    const key = `${points}/${duration}`;
    let l = this.limiters.get(key);
    if (!l) {
      l = new RateLimiterRedis({ storeClient: this.redis, keyPrefix: `flow/${key}`, points, duration });
      this.limiters.set(key, l);
    }
    return l;
  }

  async reserve(key: string, perSecond: number): Promise<number> {
    try {
      await this.limiter(perSecond).consume(key, 1);
      return 0;
    } catch (err) {
      if (err instanceof RateLimiterRes) return Math.max(1, err.msBeforeNext);
      throw err;
    }
  }
}

/** A counter per task, bumped by every control: workers compare it between pages. */
export class RedisControlFlags implements ControlFlags {
  constructor(private readonly redis: Redis) {}
  private key = (taskId: string) => `ctl/${taskId}`;

  async token(taskId: string): Promise<string | undefined> {
    try {
      return (await this.redis.get(this.key(taskId))) ?? '0';
    } catch {
      return undefined;
    }
  }

  async bump(taskId: string): Promise<void> {
    // Best effort: a worker that misses it still reads the control at its next commit.
    await this.redis
      .multi()
      .incr(this.key(taskId))
      .expire(this.key(taskId), 7 * 86_400)
      .exec()
      .catch(() => undefined);
  }
}
