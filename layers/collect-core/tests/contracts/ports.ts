/**
 * One contract suite per engine port, run against the in-memory adapter (unit) and the real one
 * (integration, on MariaDB, RabbitMQ, MongoDB and Redis): what the engine relies on, stated once.
 */
import { describe, expect, it } from 'vitest';
import {
  type CircuitBreakers,
  type ControlFlags,
  type EventLog,
  type FlowControl,
  type FlowLimit,
  type PageStore,
  type RateLimiter,
  resolveStrategy,
  type Shard,
  type ShardMessage,
  type ShardQueue,
  type Task,
  type TaskRepository,
} from '../../src';

/** What a suite needs of an adapter under test; `reset` runs before each test. */
export interface RepositoryHarness {
  repo: TaskRepository;
  /** Stores a task (and its shards) as a run would have created them. */
  seed(task: Task, shards: Shard[]): Promise<void>;
  /** The messages the repository's units published, in order. */
  published(): Promise<ShardMessage[]>;
}

/** A task id fresh in every test (both adapters key on it), UUID-shaped for the real store. */
export const freshId = (): string => crypto.randomUUID();

/** The shard route the contracts publish to (a real queue needs one declared under this name). */
export const CONTRACT_ROUTE = 'contract@1';

export const contractTask = (id: string, over: Partial<Task> = {}): Task => ({
  id,
  tenantId: 'contract',
  collector: 'fake',
  source: `contract-${id.slice(-12)}`,
  mode: 'FULL',
  state: 'RUNNING',
  requested: null,
  settings: { ok: true },
  range: null,
  strategy: resolveStrategy({}),
  sealed: true,
  since: null,
  startedReadingAt: null,
  lastError: null,
  ...over,
});

export const contractShard = (taskId: string, shardNo: number, over: Partial<Shard> = {}): Shard => ({
  taskId,
  shardNo,
  state: 'PENDING',
  requested: null,
  epoch: 0,
  gen: 0,
  attempts: 0,
  spec: { n: shardNo },
  cursor: null,
  pages: 0,
  records: 0,
  failedRecords: 0,
  lastError: null,
  ...over,
});

export function taskRepositoryContract(name: string, harness: () => RepositoryHarness): void {
  describe(`TaskRepository contract: ${name}`, () => {
    it('reads nothing for an unknown task or shard, and runs no unit for it', async () => {
      const { repo } = harness();
      const id = freshId();
      expect(await repo.getTask(id)).toBeUndefined();
      expect(await repo.getShard(id, 0)).toBeUndefined();
      expect(await repo.getShards(id)).toEqual([]);
      expect(await repo.withShard(id, 0, () => ({ result: 1 }))).toBeUndefined();
      expect(await repo.withTask(id, () => ({ result: 1 }))).toBeUndefined();
    });

    it('reads back what was stored, shards in order, with a tally by state', async () => {
      const h = harness();
      const id = freshId();
      await h.seed(contractTask(id), [
        contractShard(id, 1, { state: 'COMPLETED', cursor: { page: 3 }, pages: 3, records: 6 }),
        contractShard(id, 0),
      ]);
      expect(await h.repo.getTask(id)).toMatchObject({
        id,
        state: 'RUNNING',
        sealed: true,
        settings: { ok: true },
      });
      const shards = await h.repo.getShards(id);
      expect(shards.map((s) => [s.shardNo, s.state, s.cursor, s.pages, s.records])).toEqual([
        [0, 'PENDING', null, 0, 0],
        [1, 'COMPLETED', { page: 3 }, 3, 6],
      ]);
      const tally = await h.repo.tally(id);
      expect([tally.PENDING, tally.COMPLETED, tally.RUNNING]).toEqual([1, 1, 0]);
    });

    it('finds the shards RUNNING with no change for a while, and only those', async () => {
      const h = harness();
      const id = freshId();
      await h.seed(contractTask(id), [
        contractShard(id, 0, { state: 'RUNNING', epoch: 3, gen: 2, pages: 4 }),
        contractShard(id, 1),
        contractShard(id, 2, { state: 'COMPLETED' }),
      ]);
      const mine = async (olderThanMs: number) =>
        (await h.repo.stalledShards(olderThanMs, 10_000)).filter((s) => s.taskId === id);
      expect(await mine(3_600_000)).toEqual([]);
      const deadline = Date.now() + 10_000;
      let found = await mine(20);
      while (found.length === 0 && Date.now() < deadline) found = await mine(20);
      expect(found).toEqual([{ taskId: id, shardNo: 0, epoch: 3, gen: 2, pages: 4 }]);
    });

    it('moves a shard by a legal event, with its fields, the task by its event, and publishes its dispatch', async () => {
      const h = harness();
      const id = freshId();
      await h.seed(contractTask(id, { state: 'CREATED', sealed: true }), [contractShard(id, 0)]);
      const out = await h.repo.withShard(id, 0, (v) => {
        expect(v.task.id).toBe(id);
        expect(v.shard.state).toBe('PENDING');
        return {
          result: 'claimed',
          patch: { event: 'claim', epoch: v.shard.epoch + 1, gen: 2, attempts: 1, lastError: 'x' },
          taskEvent: 'start',
          dispatch: [{ route: CONTRACT_ROUTE, message: { taskId: id, shardNo: 0, gen: 2 } }],
        };
      });
      expect(out).toBe('claimed');
      expect(await h.repo.getShard(id, 0)).toMatchObject({
        state: 'RUNNING',
        epoch: 1,
        gen: 2,
        attempts: 1,
        lastError: 'x',
      });
      expect((await h.repo.getTask(id))?.state).toBe('RUNNING');
      expect(await h.published()).toEqual([expect.objectContaining({ taskId: id, shardNo: 0, gen: 2 })]);
    });

    it('writes nothing and publishes nothing when a unit names an illegal event', async () => {
      const h = harness();
      const id = freshId();
      await h.seed(contractTask(id), [contractShard(id, 0, { state: 'COMPLETED' })]);
      await expect(
        h.repo.withShard(id, 0, () => ({
          result: 1,
          patch: { event: 'claim', epoch: 9 },
          dispatch: [{ route: CONTRACT_ROUTE, message: { taskId: id, shardNo: 0, gen: 1 } }],
        })),
      ).rejects.toThrow();
      expect(await h.repo.getShard(id, 0)).toMatchObject({ state: 'COMPLETED', epoch: 0 });
      await expect(h.repo.withTask(id, () => ({ result: 1, task: { event: 'resume' } }))).rejects.toThrow();
      expect((await h.repo.getTask(id))?.state).toBe('RUNNING');
      expect(await h.published()).toEqual([]);
    });

    it('creates shards, changes others and the task in one unit, with every shard in view when asked', async () => {
      const h = harness();
      const id = freshId();
      await h.seed(contractTask(id, { sealed: false }), [contractShard(id, 0)]);
      await h.repo.withTask(
        id,
        (v) => {
          expect(v.shards.map((s) => s.shardNo)).toEqual([0]);
          return {
            result: true,
            task: { sealed: true, requested: 'PAUSE', lastError: 'why' },
            shards: [{ shardNo: 0, event: 'pause' }],
            newShards: [{ shardNo: 1, state: 'PENDING', spec: { n: 1 } }],
            dispatch: [{ route: CONTRACT_ROUTE, message: { taskId: id, shardNo: 1, gen: 0 } }],
          };
        },
        { withShards: true },
      );
      expect(await h.repo.getTask(id)).toMatchObject({ sealed: true, requested: 'PAUSE', lastError: 'why' });
      expect((await h.repo.getShards(id)).map((s) => [s.shardNo, s.state, s.spec])).toEqual([
        [0, 'PAUSED', { n: 0 }],
        [1, 'PENDING', { n: 1 }],
      ]);
      expect((await h.published()).map((m) => m.shardNo)).toEqual([1]);
    });

    it('keeps a push page with its shard and sends it with a dispatch that asks for it, until dropped', async () => {
      const h = harness();
      const id = freshId();
      await h.seed(contractTask(id), [contractShard(id, 0)]);
      await h.repo.withShard(id, 0, (v) => {
        expect(v.hasPayload).toBe(false);
        return { result: 1, patch: { event: 'pause', payload: { page: ['a', 'b'] } } };
      });
      expect((await h.repo.getShard(id, 0))?.keptPayload).toBe(true);
      await h.repo.withShard(id, 0, (v) => {
        expect(v.hasPayload).toBe(true);
        return {
          result: 1,
          patch: { event: 'resume', gen: 1 },
          dispatch: [
            { route: CONTRACT_ROUTE, message: { taskId: id, shardNo: 0, gen: 1 }, withStoredPayload: true },
          ],
        };
      });
      expect(await h.published()).toEqual([
        expect.objectContaining({ gen: 1, inline: { page: ['a', 'b'] } }),
      ]);
      await h.repo.withShard(id, 0, () => ({ result: 1, patch: { payload: null } }));
      expect((await h.repo.getShard(id, 0))?.keptPayload).toBe(false);
    });

    it('counts the other shards running (for the concurrency limit)', async () => {
      const h = harness();
      const id = freshId();
      await h.seed(contractTask(id, { strategy: resolveStrategy({ concurrency: 2 }) }), [
        contractShard(id, 0),
        contractShard(id, 1, { state: 'RUNNING', epoch: 1 }),
        contractShard(id, 2, { state: 'RUNNING', epoch: 1 }),
      ]);
      expect(await h.repo.withShard(id, 0, (v) => ({ result: v.runningOthers }))).toBe(2);
      expect(await h.repo.withShard(id, 1, (v) => ({ result: v.runningOthers }))).toBe(1);
    });

    it('serialises units of one shard: concurrent claims each see the other’s epoch', async () => {
      const h = harness();
      const id = freshId();
      await h.seed(contractTask(id), [contractShard(id, 0)]);
      const claim = () =>
        h.repo.withShard(id, 0, (v) => ({
          result: v.shard.epoch + 1,
          patch: { event: 'claim' as const, epoch: v.shard.epoch + 1 },
        }));
      const epochs = await Promise.all([claim(), claim(), claim()]);
      expect([...epochs].sort()).toEqual([1, 2, 3]);
      expect((await h.repo.getShard(id, 0))?.epoch).toBe(3);
    });
  });
}

export function controlFlagsContract(name: string, make: () => ControlFlags): void {
  describe(`ControlFlags contract: ${name}`, () => {
    it('changes a task’s token on every bump, and no other task’s', async () => {
      const flags = make();
      const [a, b] = [freshId(), freshId()];
      const a0 = await flags.token(a);
      const b0 = await flags.token(b);
      await flags.bump(a);
      const a1 = await flags.token(a);
      expect(a1).not.toEqual(a0);
      expect(await flags.token(b)).toEqual(b0);
      await flags.bump(a);
      expect(await flags.token(a)).not.toEqual(a1);
      expect(await flags.token(a)).toEqual(await flags.token(a));
    });
  });
}

export function rateLimiterContract(name: string, make: () => RateLimiter): void {
  describe(`RateLimiter contract: ${name}`, () => {
    it('grants a first token, at most `perSecond` within a second, then answers a wait of at most a second', async () => {
      const limiter = make();
      const key = `contract/${freshId()}`;
      const answers: number[] = [];
      for (let i = 0; i < 4; i += 1) answers.push(await limiter.reserve(key, 3));
      expect(answers[0]).toBe(0);
      expect(answers.filter((w) => w === 0).length).toBeLessThanOrEqual(3);
      const waits = answers.filter((w) => w > 0);
      expect(waits.length).toBeGreaterThan(0);
      for (const w of waits) expect(w).toBeLessThanOrEqual(1000);
      expect(await limiter.reserve(`contract/${freshId()}`, 3)).toBe(0);
    });
  });
}

export function eventLogContract(name: string, make: () => EventLog): void {
  describe(`EventLog contract: ${name}`, () => {
    it('records task and shard events, with data, without failing', async () => {
      const log = make();
      const id = freshId();
      await expect(
        log.record({ taskId: id, level: 'info', type: 'task.x', message: 'm', data: { n: 1 } }),
      ).resolves.toBeUndefined();
      await expect(
        log.record({ taskId: id, shardNo: 0, level: 'error', type: 'shard.failed', message: 'boom' }),
      ).resolves.toBeUndefined();
    });
  });
}

/** A queue under test, and how to read back what reached a route (waiting up to `ms`). */
export interface QueueHarness {
  queue: ShardQueue;
  take(route: string, ms: number): Promise<ShardMessage[]>;
}

export function shardQueueContract(name: string, harness: () => QueueHarness): void {
  describe(`ShardQueue contract: ${name}`, () => {
    it('delivers what it publishes to each route, with the page of a push shard', async () => {
      const h = harness();
      const id = freshId();
      await h.queue.publish([
        { route: CONTRACT_ROUTE, message: { taskId: id, shardNo: 0, gen: 0 } },
        { route: CONTRACT_ROUTE, message: { taskId: id, shardNo: 1, gen: 3, inline: { page: [1, 2] } } },
      ]);
      const got = await h.take(CONTRACT_ROUTE, 0);
      expect(got).toEqual([
        { taskId: id, shardNo: 0, gen: 0 },
        { taskId: id, shardNo: 1, gen: 3, inline: { page: [1, 2] } },
      ]);
    });

    it('delivers a delayed message once its delay is over', async () => {
      const h = harness();
      const id = freshId();
      await h.queue.publish([
        { route: CONTRACT_ROUTE, message: { taskId: id, shardNo: 0, gen: 1 }, delayMs: 300 },
      ]);
      const got = await h.take(CONTRACT_ROUTE, 5000);
      expect(got).toEqual([expect.objectContaining({ taskId: id, shardNo: 0, gen: 1 })]);
    });
  });
}

/** A page store under test, with the repository its shards live in. */
export interface PageStoreHarness<R> {
  pages: PageStore<R>;
  repo: TaskRepository;
  /** Stores the task and its shards, and whatever a page of it needs first (its directory, say). */
  seed(task: Task, shards: Shard[]): Promise<void>;
  /** `n` records no other page has. */
  page(task: Task, n: number): R[];
  /** The ids of the records stored for the task, sorted. */
  stored(task: Task): Promise<string[]>;
  /** Whether it keeps the shard's cursor (a push store's shards have one page and no cursor). */
  keepsCursor: boolean;
  /** The collector of the tasks it is given (a store may serve several). */
  collector?: string;
}

export function pageStoreContract<R>(name: string, harness: () => PageStoreHarness<R>): void {
  describe(`PageStore contract: ${name}`, () => {
    const setup = async (h: PageStoreHarness<R>) => {
      const id = freshId();
      const task = contractTask(id, h.collector ? { collector: h.collector } : {});
      await h.seed(task, [contractShard(id, 0, { state: 'RUNNING', epoch: 1 })]);
      return task;
    };
    const cp = (n: number, done: boolean) => ({
      cursor: done ? null : { after: n },
      done,
      pages: 1,
      records: n,
      failedRecords: 0,
    });

    it('stores a page and moves the checkpoint in one unit while the epoch owns the shard', async () => {
      const h = harness();
      const task = await setup(h);
      const page = h.page(task, 3);
      await h.pages.prepare(task, page);
      expect(await h.pages.commit(task, { shardNo: 0, epoch: 1 }, page, cp(3, false))).toEqual({
        owned: true,
        requested: null,
      });
      expect((await h.stored(task)).length).toBe(3);
      const shard = await h.repo.getShard(task.id, 0);
      expect(shard).toMatchObject({ state: 'RUNNING', pages: 1, records: 3 });
      if (h.keepsCursor) expect(shard?.cursor).toEqual({ after: 3 });
    });

    it('writes nothing for a stale epoch', async () => {
      const h = harness();
      const task = await setup(h);
      const page = h.page(task, 2);
      await h.pages.prepare(task, page);
      expect(await h.pages.commit(task, { shardNo: 0, epoch: 0 }, page, cp(2, true))).toEqual({
        owned: false,
      });
      expect(await h.stored(task)).toEqual([]);
      expect(await h.repo.getShard(task.id, 0)).toMatchObject({ state: 'RUNNING', pages: 0, records: 0 });
    });

    it('completes the shard on its last page, clearing a control asked meanwhile; reports one asked before', async () => {
      const h = harness();
      const task = await setup(h);
      await h.repo.withShard(task.id, 0, () => ({ result: 1, patch: { requested: 'PAUSE' } }));
      const first = h.page(task, 1);
      await h.pages.prepare(task, first);
      expect(await h.pages.commit(task, { shardNo: 0, epoch: 1 }, first, cp(1, false))).toEqual({
        owned: true,
        requested: 'PAUSE',
      });
      const last = h.page(task, 2);
      await h.pages.prepare(task, last);
      expect(await h.pages.commit(task, { shardNo: 0, epoch: 1 }, last, cp(2, true))).toMatchObject({
        owned: true,
      });
      expect(await h.repo.getShard(task.id, 0)).toMatchObject({
        state: 'COMPLETED',
        requested: null,
        pages: 2,
      });
    });

    it('stores each record once when a page is applied again by a newer claim', async () => {
      const h = harness();
      const task = await setup(h);
      const page = h.page(task, 2);
      await h.pages.prepare(task, page);
      await h.pages.commit(task, { shardNo: 0, epoch: 1 }, page, cp(2, false));
      await h.repo.withShard(task.id, 0, () => ({ result: 1, patch: { event: 'claim', epoch: 2 } }));
      await h.pages.prepare(task, page);
      await h.pages.commit(task, { shardNo: 0, epoch: 2 }, page, cp(2, true));
      expect((await h.stored(task)).length).toBe(2);
    });
  });
}

/** A flow control under test, with its limits set and its leases run out as the adapter does it. */
export interface FlowHarness {
  flow: FlowControl;
  setLimit(key: string, limit: FlowLimit): Promise<void>;
  /** How many hold a slot under `key` now. */
  inUse(key: string): Promise<number>;
  /** Lets leases of `ms` run out (the fake clock jumps; real time is waited for). */
  expire(ms: number): Promise<void>;
  /** The rate adapted to a key's source now (undefined: none). */
  adapted(key: string): Promise<number | undefined>;
}

export function flowControlContract(name: string, harness: () => FlowHarness): void {
  describe(`FlowControl contract: ${name}`, () => {
    const key = () => `tenant:${freshId()}`;

    it('admits up to the limit, refuses the next, and admits it once a slot is left', async () => {
      const h = harness();
      const k = key();
      await h.setLimit(k, { concurrency: 2 });
      expect(await h.flow.enter([k], 'a', 60_000)).toBeUndefined();
      expect(await h.flow.enter([k], 'b', 60_000)).toBeUndefined();
      expect(await h.flow.enter([k], 'c', 60_000)).toEqual({ key: k, reason: 'concurrency', limit: 2 });
      expect(await h.inUse(k)).toBe(2);
      await h.flow.leave([k], 'a');
      expect(await h.flow.enter([k], 'c', 60_000)).toBeUndefined();
      // A holder renewing its slot keeps it.
      expect(await h.flow.enter([k], 'b', 60_000)).toBeUndefined();
    });

    it('keeps the earliest holders when the limit is lowered: the later ones are refused at renewal', async () => {
      const h = harness();
      const k = key();
      await h.setLimit(k, { concurrency: 3 });
      for (const holder of ['first', 'second', 'third'])
        expect(await h.flow.enter([k], holder, 60_000)).toBeUndefined();
      await h.setLimit(k, { concurrency: 1 });
      expect(await h.flow.enter([k], 'third', 60_000)).toMatchObject({ key: k, limit: 1 });
      expect(await h.flow.enter([k], 'second', 60_000)).toMatchObject({ key: k, limit: 1 });
      expect(await h.flow.enter([k], 'first', 60_000)).toBeUndefined();
      expect(await h.inUse(k)).toBe(1);
    });

    it('is all or nothing over several keys, and has no limit on a key without one', async () => {
      const h = harness();
      const [a, b, free] = [key(), key(), key()];
      await h.setLimit(a, { concurrency: 5 });
      await h.setLimit(b, { concurrency: 1 });
      expect(await h.flow.enter([b], 'holder', 60_000)).toBeUndefined();
      expect(await h.flow.enter([a, b], 'other', 60_000)).toMatchObject({ key: b });
      expect(await h.inUse(a)).toBe(0);
      for (let i = 0; i < 20; i += 1) expect(await h.flow.enter([free], `h${i}`, 60_000)).toBeUndefined();
    });

    it("frees a slot whose lease was not renewed (a dead worker's)", async () => {
      const h = harness();
      const k = key();
      await h.setLimit(k, { concurrency: 1 });
      expect(await h.flow.enter([k], 'dead', 300)).toBeUndefined();
      expect(await h.flow.enter([k], 'alive', 60_000)).toBeDefined();
      await h.expire(300);
      expect(await h.flow.enter([k], 'alive', 60_000)).toBeUndefined();
    });

    it("halves a source host's rate when it pushes back and gives it back slowly, never above its limit", async () => {
      const h = harness();
      const host = `host:${freshId()}.example`;
      const tenant = key();
      await h.setLimit(host, { ratePerSecond: 8 });
      await h.flow.adapt([tenant, host], 'slow-down');
      expect(await h.adapted(host)).toBe(4);
      expect(await h.adapted(tenant)).toBeUndefined();
      await h.flow.adapt([host], 'slow-down');
      expect(await h.adapted(host)).toBe(2);
      await h.flow.adapt([host], 'ok');
      expect(await h.adapted(host)).toBe(2.5);
      for (let i = 0; i < 20; i += 1) await h.flow.adapt([host], 'ok');
      expect(await h.adapted(host)).toBeUndefined();
      // A host without a configured rate starts from a default and adapts the same way.
      const bare = `host:${freshId()}.example`;
      await h.flow.adapt([bare], 'ok');
      expect(await h.adapted(bare)).toBeUndefined();
      await h.flow.adapt([bare], 'slow-down');
      expect(await h.adapted(bare)).toBe(5);
    });

    it("spaces requests under a key's rate", async () => {
      const h = harness();
      const k = key();
      await h.setLimit(k, { ratePerSecond: 1 });
      expect(await h.flow.reserve([k])).toBe(0);
      const wait = await h.flow.reserve([k]);
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(1000);
      expect(await h.flow.reserve([key()])).toBe(0);
    });

    it('lets a burst go at once, then holds the rate', async () => {
      const h = harness();
      const k = key();
      await h.setLimit(k, { ratePerSecond: 2, burst: 3 });
      for (let i = 0; i < 3; i += 1) expect(await h.flow.reserve([k])).toBe(0);
      const wait = await h.flow.reserve([k]);
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(500);
      // All or nothing: a key that must wait takes nothing under the others.
      const other = key();
      await h.setLimit(other, { ratePerSecond: 1 });
      expect(await h.flow.reserve([other, k])).toBeGreaterThan(0);
      expect(await h.flow.reserve([other])).toBe(0);
    });
  });
}

/** Breakers under test (threshold 2, cool-down 300 ms), and a way to let the cool-down pass. */
export interface BreakersHarness {
  breakers: CircuitBreakers;
  expire(ms: number): Promise<void>;
}

export function breakersContract(name: string, harness: () => BreakersHarness): void {
  describe(`CircuitBreakers contract: ${name}`, () => {
    it('opens after the failures in a row, parks the others, lets the opener probe after the cool-down, and hands back the parked on success', async () => {
      const { breakers, expire } = harness();
      const key = `host:${freshId()}.example`;
      expect(await breakers.admit(key, 'a#0')).toBe('go');
      expect(await breakers.failed(key, 'a#0')).toBeUndefined();
      expect(await breakers.failed(key, 'b#0')).toBe(300);
      expect(await breakers.view(key)).toMatchObject({ key, state: 'OPEN', failures: 2 });
      expect(await breakers.admit(key, 'c#0')).toBe('park');
      expect(await breakers.park(key, 'c#0')).toBe(false);
      expect(await breakers.park(key, 'd#1')).toBe(false);
      expect(await breakers.view(key)).toMatchObject({ parked: 2 });
      await expire(300);
      expect(await breakers.admit(key, 'c#0')).toBe('park');
      expect(await breakers.admit(key, 'b#0')).toBe('probe');
      expect(await breakers.view(key)).toMatchObject({ state: 'HALF_OPEN' });
      expect((await breakers.succeeded(key)).sort()).toEqual(['c#0', 'd#1']);
      expect(await breakers.view(key)).toMatchObject({
        state: 'CLOSED',
        failures: 0,
        parked: 0,
        openUntil: null,
      });
      expect(await breakers.admit(key, 'c#0')).toBe('go');
      // Parking under a closed breaker says so: the shard resumes at once.
      expect(await breakers.park(key, 'e#0')).toBe(true);
    });

    it('opens again when the probe fails, and resets the count on a success', async () => {
      const { breakers, expire } = harness();
      const key = `host:${freshId()}.example`;
      await breakers.failed(key, 'a#0');
      await breakers.succeeded(key);
      expect(await breakers.failed(key, 'a#0')).toBeUndefined();
      expect(await breakers.failed(key, 'a#0')).toBe(300);
      await expire(300);
      expect(await breakers.admit(key, 'a#0')).toBe('probe');
      expect(await breakers.failed(key, 'a#0')).toBe(300);
      expect(await breakers.view(key)).toMatchObject({ state: 'OPEN' });
    });
  });
}
