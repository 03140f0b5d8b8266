import {
  type Admission,
  admit,
  type BreakerSettings,
  type BreakerState,
  type BreakerView,
  type CircuitBreakers,
  CLOSED,
  failed,
  succeeded,
} from '@collect/core';
import type { Redis } from 'ioredis';

const stateOf = (key: string) => `breaker/${key}`;
const parkedOf = (key: string) => `breaker/parked/${key}`;
/** Breakers of hosts that answer again are forgotten after a day. */
const TTL_SECONDS = 86_400;

/**
 * Breakers in Redis, one per source host, shared by every worker. Each step of the state machine
 * (core's breaker.ts) is applied under WATCH: read, decide, write in MULTI, again if another
 * worker changed the state meanwhile. The shards an open breaker parked are a set beside it,
 * taken whole by the success that closes it.
 */
export class RedisBreakers implements CircuitBreakers {
  /**
   * WATCH belongs to a connection: the changes go through a connection of their own, one at a
   * time in this process (they are rare: only while a host fails), so no other command of the
   * worker runs between a WATCH and its EXEC.
   */
  private tx: Redis | undefined;
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly settings: BreakerSettings,
    private readonly now: () => number = Date.now,
  ) {}

  private exclusive<T>(work: (tx: Redis) => Promise<T>): Promise<T> {
    this.tx ??= this.redis.duplicate();
    const tx = this.tx;
    const run = this.turn.then(() => work(tx));
    this.turn = run.catch(() => undefined);
    return run;
  }

  private async read(key: string, via: Redis = this.redis): Promise<BreakerState> {
    const raw = await via.get(stateOf(key));
    return raw ? (JSON.parse(raw) as BreakerState) : CLOSED;
  }

  /**
   * Applies `step` to a breaker's state atomically; `extra` adds commands to the same MULTI.
   * Returns what `step` answered, and the replies of `extra`'s commands.
   */
  private async apply<T>(
    key: string,
    step: (s: BreakerState) => {
      next: BreakerState;
      result: T;
      extra?: (m: ReturnType<Redis['multi']>) => void;
    },
  ): Promise<{ result: T; replies: unknown[] }> {
    return this.exclusive(async (tx) => {
      for (let attempt = 0; attempt < 20; attempt += 1) {
        await tx.watch(stateOf(key));
        const current = await this.read(key, tx);
        const { next, result, extra } = step(current);
        const unchanged = JSON.stringify(next) === JSON.stringify(current) && !extra;
        if (unchanged) {
          await tx.unwatch();
          return { result, replies: [] };
        }
        const m = tx.multi();
        if (next.state === 'CLOSED' && next.failures === 0) m.del(stateOf(key));
        else m.set(stateOf(key), JSON.stringify(next), 'EX', TTL_SECONDS);
        extra?.(m);
        const replies = await m.exec();
        if (replies) return { result, replies: replies.slice(1).map(([, r]) => r) };
      }
      throw new Error(`breaker ${key}: too many concurrent changes`);
    });
  }

  /** Closes the connection of its changes (tests). */
  async close(): Promise<void> {
    this.tx?.disconnect();
  }

  async admit(key: string, holder: string): Promise<Admission> {
    const s = await this.read(key);
    if (s.state === 'CLOSED') return 'go'; // the common case: one read, no write
    return (
      await this.apply(key, (current) => {
        const [a, next] = admit(current, holder, this.now(), this.settings);
        return { next, result: a };
      })
    ).result;
  }

  async succeeded(key: string): Promise<string[]> {
    const s = await this.read(key);
    if (s.state === 'CLOSED' && s.failures === 0) return [];
    const { result, replies } = await this.apply(key, (current) => {
      const { next, closed } = succeeded(current);
      return {
        next,
        result: closed,
        ...(closed
          ? { extra: (m: ReturnType<Redis['multi']>) => void m.smembers(parkedOf(key)).del(parkedOf(key)) }
          : {}),
      };
    });
    return result ? ((replies[0] as string[] | undefined) ?? []) : [];
  }

  async failed(key: string, holder: string): Promise<number | undefined> {
    return (
      await this.apply(key, (current) => {
        const { next, opened } = failed(current, holder, this.now(), this.settings);
        return { next, result: opened };
      })
    ).result;
  }

  async park(key: string, holder: string): Promise<boolean> {
    const { result } = await this.apply(key, (current) =>
      current.state === 'CLOSED'
        ? { next: current, result: true }
        : {
            next: current,
            result: false,
            extra: (m: ReturnType<Redis['multi']>) =>
              void m.sadd(parkedOf(key), holder).expire(parkedOf(key), TTL_SECONDS),
          },
    );
    return result;
  }

  async view(key: string): Promise<BreakerView> {
    const [s, parked] = [await this.read(key), await this.redis.scard(parkedOf(key))];
    return {
      key,
      state: s.state,
      failures: s.failures,
      openUntil: s.state === 'CLOSED' ? null : new Date(s.openUntil).toISOString(),
      parked,
    };
  }
}
