import { Redis } from 'ioredis';

/** What the platform publishes for its workers (see functions/collect/src/adapters/flow-control.redis.ts). */
const FLOW_LIMITS = 'flow/limits';
const FLOW_VERSION = 'flow/version';

export interface FlowWatcher {
  /** Resolves once a published version of the limits was read (and applied) a first time. */
  readonly firstRead: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Applies the flow limits `function:{key}` to the bridge at runtime: every `everyMs` it reads
 * the published version, and when it moved, every function's limit (`undefined` = back to the
 * function's own). Redis unreachable: the limits in force stay, and it tries again.
 *
 * @param apply - called with each function key's concurrency limit, or undefined for none
 */
export function watchFunctionLimits(options: {
  redisUrl: string;
  prefix: string;
  everyMs: number;
  apply: (limits: ReadonlyMap<string, number>) => void;
  onError?: (err: unknown) => void;
  /** Called once when no limits have ever been read and none are published (it waits for them). */
  onUnknown?: () => void;
  /** Called after each successful check with the version it read (tests wait on it). */
  onChecked?: (version: string | null) => void;
}): FlowWatcher {
  const redis = new Redis(options.redisUrl, {
    keyPrefix: options.prefix,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  });
  redis.on('error', () => undefined);
  let version: string | undefined;
  /** No version was published when last checked. */
  let waiting = false;
  let stopped = false;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let firstDone: () => void = () => undefined;
  const first = new Promise<void>((resolve) => {
    firstDone = resolve;
  });
  const check = async () => {
    try {
      if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
      const now = await redis.get(FLOW_VERSION);
      // No version is not "no limits": Redis restarted empty or was flushed, and the platform
      // publishes them again from MySQL (at setup, in every worker, and every minute). Until
      // then the limits in force stay, and before any were read, nothing is known yet.
      if (now === null) {
        if (version === undefined && !waiting) options.onUnknown?.();
        waiting = true;
      } else if (now !== version) {
        const all = await redis.hgetall(FLOW_LIMITS);
        const limits = new Map<string, number>();
        for (const [key, raw] of Object.entries(all)) {
          if (!key.startsWith('function:')) continue;
          const concurrency = (JSON.parse(raw) as { concurrency?: unknown }).concurrency;
          if (typeof concurrency === 'number') limits.set(key.slice('function:'.length), concurrency);
        }
        options.apply(limits);
        version = now;
        waiting = false;
        firstDone();
      }
      failing = false;
      options.onChecked?.(now);
    } catch (err) {
      // Said once per outage, not every check.
      if (!failing) options.onError?.(err);
      failing = true;
    } finally {
      if (!stopped) timer = setTimeout(() => void check(), options.everyMs);
    }
  };
  void check();
  return {
    firstRead: first,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      redis.disconnect();
    },
  };
}
