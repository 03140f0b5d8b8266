import {
  CollectError,
  type Collector,
  classifyFailure,
  type EngineDeps,
  resolveStrategy,
  type ShardMessage,
  type Strategy,
  type Task,
} from '../src';
import {
  FakeClock,
  MemoryControlFlags,
  MemoryEventLog,
  MemoryLifecycle,
  MemoryPageStore,
  MemoryRateLimiter,
  MemoryShardQueue,
  MemoryTaskRepository,
} from '../src/testing';

export interface Rec {
  id: string;
  shard: number;
}

/**
 * A source of `shards` × `pages` pages of 2 records each. `onFetch` runs before each page is
 * returned (to pause, fail, mutate …); its throw is the fetch's failure.
 */
export function fakeCollector(opts: {
  shards: number;
  pages: number;
  onFetch?: (shardNo: number, page: number) => void;
}): Collector<{ ok: true }, { shardNo: number }, number, Rec, Rec> & { fetches: [number, number][] } {
  const fetches: [number, number][] = [];
  return {
    type: 'fake',
    version: '1',
    route: 'run-shard',
    secrets: [],
    fetches,
    settings: {
      safeParse: (v: unknown) =>
        v && typeof v === 'object' && (v as { ok?: unknown }).ok === true
          ? { success: true as const, data: { ok: true as const } }
          : { success: false as const, error: { issues: [{ path: ['ok'], message: 'must be true' }] } },
    },
    async *plan() {
      yield { records: [{ id: 'dir', shard: -1 }] };
      for (let i = 0; i < opts.shards; i += 1) yield { shard: { shardNo: i } };
    },
    async fetchPage(ctx, cursor) {
      const page = cursor ?? 0;
      fetches.push([ctx.spec.shardNo, page]);
      opts.onFetch?.(ctx.spec.shardNo, page);
      const items = [0, 1].map((k) => ({ id: `${ctx.spec.shardNo}-${page}-${k}`, shard: ctx.spec.shardNo }));
      return { items, next: page + 1 < opts.pages ? page + 1 : null };
    },
    map: (items) => items,
  };
}

export function newTask(id: string, strategy: Partial<Strategy> = {}): Task {
  return {
    id,
    tenantId: 't',
    collector: 'fake',
    source: 'src',
    mode: 'FULL',
    state: 'CREATED',
    requested: null,
    settings: { ok: true },
    range: null,
    strategy: resolveStrategy(strategy),
    sealed: false,
    since: null,
    startedReadingAt: null,
    lastError: null,
  };
}

export function engine(collector: Collector<unknown, unknown, unknown, unknown, Rec>) {
  const clock = new FakeClock();
  const queue = new MemoryShardQueue(clock);
  const tasks = new MemoryTaskRepository(queue, () => clock.now());
  const pages = new MemoryPageStore<Rec>(tasks, (r) => r.id);
  const lifecycle = new MemoryLifecycle();
  const events = new MemoryEventLog();
  const deps: EngineDeps<Rec> = {
    tasks,
    queue,
    pages,
    lifecycle,
    events,
    limiter: new MemoryRateLimiter(clock),
    flags: new MemoryControlFlags(),
    clock,
    collectorOf: () => collector,
    classify: (err) => classifyFailure(err),
    random: () => 0.5,
  };
  return { deps, clock, queue, tasks, pages, lifecycle, events };
}

export const httpError = (status: number, retryAfterMs?: number) =>
  new CollectError(
    status === 429
      ? 'rate-limited'
      : status === 401
        ? 'task-fatal'
        : status >= 500
          ? 'retryable'
          : 'shard-fatal',
    `HTTP ${status}`,
    { status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
  );

export type { ShardMessage };
