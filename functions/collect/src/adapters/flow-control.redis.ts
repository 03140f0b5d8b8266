import {
  type AdaptSignal,
  adaptRate,
  adapts,
  effectiveRate,
  type FlowControl,
  type FlowLimit,
  type FlowRefusal,
} from '@collect/core';
import type { Redis } from 'ioredis';

/** Where the limits are published for the workers: a hash of key → limit, and a version. */
export const FLOW_LIMITS = 'flow/limits';
export const FLOW_VERSION = 'flow/version';
/** Rates adapted to sources that pushed back (key → requests a second), shared by the workers. */
export const FLOW_ADAPTED = 'flow/adapted';
const slotsOf = (key: string) => `flow/slots/${key}`;
const leasesOf = (key: string) => `flow/leases/${key}`;

/**
 * Takes a holder's slots under every limited key, or none (all or nothing), in one script so
 * no two workers interleave: hand-written Lua because no limiter library has leases that a
 * lowered limit takes back from the latest holders first. Per key, `slots` holds each holder
 * with the time it arrived and `leases` with the time its lease ends; ended leases are dropped
 * first. A holder keeps its slot while fewer than `limit` holders arrived before it. The time
 * is Redis's, so workers' clocks do not matter.
 * KEYS: slots_1, leases_1, … ; ARGV: holder, leaseMs, n, limit_1 … limit_n.
 * Returns 0, or the 1-based index of the key that refused.
 */
const ENTER = `
local holder = ARGV[1]
local leaseMs = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, n do
  local limit = tonumber(ARGV[3 + i])
  local slots, leases = KEYS[2 * i - 1], KEYS[2 * i]
  for _, h in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
    redis.call('ZREM', slots, h)
    redis.call('ZREM', leases, h)
  end
  local since = redis.call('ZSCORE', slots, holder)
  local ahead
  if since then
    ahead = redis.call('ZCOUNT', slots, '-inf', '(' .. since)
    for _, h in ipairs(redis.call('ZRANGEBYSCORE', slots, since, since)) do
      if h < holder then ahead = ahead + 1 end
    end
  else
    ahead = redis.call('ZCARD', slots)
  end
  if ahead >= limit then
    for j = 1, n do
      redis.call('ZREM', KEYS[2 * j - 1], holder)
      redis.call('ZREM', KEYS[2 * j], holder)
    end
    return i
  end
end
for i = 1, n do
  redis.call('ZADD', KEYS[2 * i - 1], 'NX', now, holder)
  redis.call('ZADD', KEYS[2 * i], now + leaseMs, holder)
  redis.call('PEXPIRE', KEYS[2 * i - 1], leaseMs * 2)
  redis.call('PEXPIRE', KEYS[2 * i], leaseMs * 2)
end
return 0
`;

/** Drops ended leases of a key and answers how many hold a slot. */
const IN_USE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('ZREM', KEYS[1], h)
  redis.call('ZREM', KEYS[2], h)
end
return redis.call('ZCARD', KEYS[1])
`;

/**
 * Takes one request under every key's rate, or none (all or nothing), by GCRA (the generic cell
 * rate algorithm): per key, the theoretical arrival time of the next request moves on by
 * 1000 / rate ms for each request taken, and a request may go `burst` - 1 emissions early. It
 * holds a rate within every second and takes a new rate at once (rates adapt at runtime):
 * rate-limiter-flexible's limiters fix their points and window when built and count in fixed
 * windows, where a window's edge lets twice the rate through. Redis's clock.
 * KEYS: tat_1, … ; ARGV: n, emission_1, tolerance_1, … (ms). Returns 0, or the ms to wait.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n = tonumber(ARGV[1])
local wait = 0
local tats = {}
for i = 1, n do
  local emission, tolerance = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tats[i] = tat
  local early = tat - tolerance - now
  if early > wait then wait = early end
end
if wait > 0 then return math.ceil(wait) end
for i = 1, n do
  local emission = tonumber(ARGV[2 * i])
  local next = tats[i] + emission
  redis.call('SET', KEYS[i], tostring(next), 'PX', math.ceil(next - now + 1000))
end
return 0
`;

/** How often a worker asks whether the limits changed (a change is in force within this). */
const LIMITS_CHECK_MS = 500;

/**
 * Flow control on Redis, shared by every worker. Limits are read from the published hash and
 * cached in the worker, checked against the version at most every LIMITS_CHECK_MS. Rates are
 * GCRA (see RESERVE): `ratePerSecond` requests a second, `burst` of them at once at most.
 */
export class RedisFlowControl implements FlowControl {
  private limits = new Map<string, FlowLimit>();
  private adapted = new Map<string, number>();
  private version: string | null | undefined;
  private checkedAt = 0;

  constructor(
    private readonly redis: Redis,
    /** How often the published version is checked (tests: 0, every call). */
    private readonly checkEveryMs = LIMITS_CHECK_MS,
    private readonly now: () => number = Date.now,
    /** Publishes the limits from their truth, when Redis has none (it was restarted, say). */
    private readonly republish?: () => Promise<void>,
  ) {}

  /** The limits in force (refreshed when the published version moved). */
  async current(): Promise<ReadonlyMap<string, FlowLimit>> {
    if (this.version !== undefined && this.now() - this.checkedAt < this.checkEveryMs) return this.limits;
    let [version, adapted] = await Promise.all([
      this.redis.get(FLOW_VERSION),
      this.redis.hgetall(FLOW_ADAPTED),
    ]);
    if (version === null && this.republish) {
      await this.republish();
      version = await this.redis.get(FLOW_VERSION);
    }
    this.adapted = new Map(Object.entries(adapted).map(([k, v]) => [k, Number(v)]));
    this.checkedAt = this.now();
    if (version !== this.version) {
      const all = await this.redis.hgetall(FLOW_LIMITS);
      this.limits = new Map(Object.entries(all).map(([k, v]) => [k, JSON.parse(v) as FlowLimit]));
      this.version = version;
    }
    return this.limits;
  }

  async enter(keys: readonly string[], holder: string, leaseMs: number): Promise<FlowRefusal | undefined> {
    const limits = await this.current();
    const limited = keys.filter((k) => limits.get(k)?.concurrency !== undefined);
    if (limited.length === 0) return undefined;
    const refused = (await this.redis.eval(
      ENTER,
      limited.length * 2,
      ...limited.flatMap((k) => [slotsOf(k), leasesOf(k)]),
      holder,
      Math.max(1, Math.round(leaseMs)),
      limited.length,
      ...limited.map((k) => limits.get(k)?.concurrency as number),
    )) as number;
    if (refused === 0) return undefined;
    const key = limited[refused - 1] as string;
    return { key, reason: 'concurrency', limit: limits.get(key)?.concurrency as number };
  }

  async leave(keys: readonly string[], holder: string): Promise<void> {
    const m = this.redis.multi();
    for (const k of keys) m.zrem(slotsOf(k), holder).zrem(leasesOf(k), holder);
    await m.exec();
  }

  async inUse(key: string): Promise<number> {
    return Number(await this.redis.eval(IN_USE, 2, slotsOf(key), leasesOf(key)));
  }

  async reserve(keys: readonly string[]): Promise<number> {
    const limits = await this.current();
    const rated = keys.flatMap((k) => {
      const rate = effectiveRate(limits.get(k)?.ratePerSecond, this.adapted.get(k));
      if (!rate) return [];
      const emission = 1000 / rate;
      return [{ k, emission, tolerance: emission * (Math.max(1, limits.get(k)?.burst ?? 1) - 1) }];
    });
    if (rated.length === 0) return 0;
    return Number(
      await this.redis.eval(
        RESERVE,
        rated.length,
        ...rated.map((r) => `flow/tat/${r.k}`),
        rated.length,
        ...rated.flatMap((r) => [r.emission, r.tolerance]),
      ),
    );
  }

  /** The adapted rate of a key now (undefined: none). */
  async adaptedRate(key: string): Promise<number | undefined> {
    const v = await this.redis.hget(FLOW_ADAPTED, key);
    return v === null ? undefined : Number(v);
  }

  async adapt(keys: readonly string[], signal: AdaptSignal): Promise<void> {
    const limits = await this.current();
    for (const key of keys.filter(adapts)) {
      // A good answer changes nothing unless the key is adapted (no Redis call on every page).
      if (signal === 'ok' && !this.adapted.has(key)) continue;
      const next = adaptRate(await this.adaptedRate(key), limits.get(key)?.ratePerSecond, signal);
      if (next === undefined) {
        await this.redis.hdel(FLOW_ADAPTED, key);
        this.adapted.delete(key);
      } else {
        await this.redis.hset(FLOW_ADAPTED, key, String(next));
        this.adapted.set(key, next);
      }
    }
  }
}
