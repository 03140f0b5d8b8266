/**
 * In-memory adapters of every engine port, for unit tests of the engine's rules and for the
 * contract suites (which run the same checks against the real adapters).
 */
import {
  type Admission,
  admit,
  type BreakerSettings,
  type BreakerState,
  CLOSED,
  failed,
  succeeded,
} from '../breaker';
import { type AdaptSignal, adaptRate, adapts, effectiveRate } from '../flow-adapt';
import type { PlanMessage, Shard, ShardMessage, Task, TaskEventEntry } from '../model';
import type {
  BreakerView,
  Checkpoint,
  CircuitBreakers,
  Clock,
  CommitOutcome,
  ControlFlags,
  Dispatch,
  EventLog,
  FlowControl,
  FlowLimit,
  FlowRefusal,
  PageStore,
  RateLimiter,
  RunLifecycle,
  ShardDecision,
  ShardPatch,
  ShardQueue,
  StalledShard,
  TaskDecision,
  TaskRepository,
  TaskView,
} from '../ports';
import {
  nextShardState,
  nextTaskState,
  type ShardState,
  type ShardTally,
  type TaskState,
  tallyOf,
} from '../states';

export class FakeClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

export interface QueuedMessage extends Dispatch {
  at: number;
}

export class MemoryShardQueue implements ShardQueue {
  readonly messages: QueuedMessage[] = [];
  readonly plans: { message: PlanMessage; delayMs: number }[] = [];
  /** Set to make the next publish fail (a broker that refuses). */
  failNext = false;
  constructor(private readonly clock: Clock = new FakeClock()) {}
  async publish(dispatches: Dispatch[]): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('broker refused the message');
    }
    for (const d of dispatches) this.messages.push({ ...d, at: this.clock.now() });
  }
  async publishPlan(message: PlanMessage, delayMs = 0): Promise<void> {
    this.plans.push({ message, delayMs });
  }
  /** Takes every queued shard message (delays ignored). */
  take(): ShardMessage[] {
    return this.messages.splice(0).map((m) => m.message);
  }
}

export class MemoryEventLog implements EventLog {
  readonly entries: (TaskEventEntry & { at: number })[] = [];
  async record(e: TaskEventEntry): Promise<void> {
    this.entries.push({ ...e, at: Date.now() });
  }
}

export class MemoryControlFlags implements ControlFlags {
  private readonly tokens = new Map<string, number>();
  async token(taskId: string): Promise<string | undefined> {
    return String(this.tokens.get(taskId) ?? 0);
  }
  async bump(taskId: string): Promise<void> {
    this.tokens.set(taskId, (this.tokens.get(taskId) ?? 0) + 1);
  }
}

/** Evenly spaced tokens per key: one every 1000 / perSecond ms. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly next = new Map<string, number>();
  readonly taken: number[] = [];
  constructor(private readonly clock: Clock) {}
  async reserve(key: string, perSecond: number): Promise<number> {
    const now = this.clock.now();
    const at = this.next.get(key) ?? now;
    if (at > now) return at - now;
    this.next.set(key, now + 1000 / perSecond);
    this.taken.push(now);
    return 0;
  }
}

/**
 * Flow limits in maps, on the engine's clock: slots are holders in order of arrival (a lease
 * that is not renewed expires), rates are evenly spaced tokens per key.
 */
export class MemoryFlowControl implements FlowControl {
  readonly limits = new Map<string, FlowLimit>();
  /** Adapted rates of keys whose source pushed back. */
  readonly adapted = new Map<string, number>();
  private readonly holders = new Map<string, Map<string, { since: number; until: number }>>();
  private readonly next = new Map<string, number>();
  constructor(private readonly clock: Clock) {}

  private live(key: string) {
    const now = this.clock.now();
    const held = this.holders.get(key) ?? new Map();
    for (const [h, lease] of held) if (lease.until <= now) held.delete(h);
    this.holders.set(key, held);
    return held;
  }

  inUse(key: string): number {
    return this.live(key).size;
  }

  async enter(keys: readonly string[], holder: string, leaseMs: number): Promise<FlowRefusal | undefined> {
    const now = this.clock.now();
    for (const key of keys) {
      const limit = this.limits.get(key)?.concurrency;
      if (limit === undefined) continue;
      const held = this.live(key);
      const mine = held.get(holder);
      const ahead = [...held.entries()].filter(
        ([h, l]) => h !== holder && (!mine || l.since < mine.since || (l.since === mine.since && h < holder)),
      ).length;
      if (ahead >= limit) {
        await this.leave(keys, holder);
        return { key, reason: 'concurrency', limit };
      }
    }
    for (const key of keys) {
      if (this.limits.get(key)?.concurrency === undefined) continue;
      const held = this.live(key);
      held.set(holder, { since: held.get(holder)?.since ?? now, until: now + leaseMs });
    }
    return undefined;
  }

  async leave(keys: readonly string[], holder: string): Promise<void> {
    for (const key of keys) this.holders.get(key)?.delete(holder);
  }

  /** GCRA, as the Redis adapter: each request moves the key's next time on by 1000 / rate ms. */
  async reserve(keys: readonly string[]): Promise<number> {
    const now = this.clock.now();
    const rated = keys.flatMap((key) => {
      const rate = effectiveRate(this.limits.get(key)?.ratePerSecond, this.adapted.get(key));
      if (!rate) return [];
      const emission = 1000 / rate;
      const tolerance = emission * (Math.max(1, this.limits.get(key)?.burst ?? 1) - 1);
      return [{ key, emission, tolerance, tat: Math.max(now, this.next.get(key) ?? now) }];
    });
    const wait = Math.max(0, ...rated.map((r) => r.tat - r.tolerance - now));
    if (wait > 0) return Math.ceil(wait);
    for (const r of rated) this.next.set(r.key, r.tat + r.emission);
    return 0;
  }

  async adapt(keys: readonly string[], signal: AdaptSignal): Promise<void> {
    for (const key of keys.filter(adapts)) {
      const next = adaptRate(this.adapted.get(key), this.limits.get(key)?.ratePerSecond, signal);
      if (next === undefined) this.adapted.delete(key);
      else this.adapted.set(key, next);
    }
  }
}

/** Breakers in a map, on the engine's clock. */
export class MemoryBreakers implements CircuitBreakers {
  readonly states = new Map<string, BreakerState>();
  readonly parked = new Map<string, Set<string>>();
  constructor(
    private readonly clock: Clock,
    readonly settings: BreakerSettings = { threshold: 3, coolDownMs: 10_000 },
  ) {}

  private get(key: string): BreakerState {
    return this.states.get(key) ?? CLOSED;
  }

  async admit(key: string, holder: string): Promise<Admission> {
    const [a, next] = admit(this.get(key), holder, this.clock.now(), this.settings);
    this.states.set(key, next);
    return a;
  }

  async succeeded(key: string): Promise<string[]> {
    const { next, closed } = succeeded(this.get(key));
    this.states.set(key, next);
    if (!closed) return [];
    const held = [...(this.parked.get(key) ?? [])];
    this.parked.delete(key);
    return held;
  }

  async failed(key: string, holder: string): Promise<number | undefined> {
    const { next, opened } = failed(this.get(key), holder, this.clock.now(), this.settings);
    this.states.set(key, next);
    return opened;
  }

  async park(key: string, holder: string): Promise<boolean> {
    if (this.get(key).state === 'CLOSED') return true;
    this.parked.set(key, new Set([...(this.parked.get(key) ?? []), holder]));
    return false;
  }

  async view(key: string): Promise<BreakerView> {
    const s = this.get(key);
    return {
      key,
      state: s.state,
      failures: s.failures,
      openUntil: s.state === 'CLOSED' ? null : new Date(s.openUntil).toISOString(),
      parked: this.parked.get(key)?.size ?? 0,
    };
  }
}

interface StoredShard extends Shard {
  payload?: unknown;
  /** When the row last changed (the clock given to the repository). */
  touchedAt?: number;
}

class Illegal extends Error {}

/** A stored shard as the engine reads it: its page (if kept) is only flagged. */
const viewOf = ({ payload, ...s }: StoredShard): Shard => ({
  ...structuredClone(s),
  keptPayload: payload !== undefined,
});

/**
 * Tasks and shards in maps. Units of work run one at a time (JavaScript runs them to the end
 * between awaits; the only await inside is the dispatch), and a failed dispatch undoes the unit.
 */
export class MemoryTaskRepository implements TaskRepository {
  readonly tasks = new Map<string, Task>();
  readonly shards = new Map<string, StoredShard>();
  /** Called inside a unit that takes a finished task's source again; throw to refuse. */
  retakeSource: (task: Task) => void = () => undefined;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly queue: ShardQueue,
    private readonly now: () => number = Date.now,
  ) {}

  private key = (taskId: string, shardNo: number) => `${taskId}#${shardNo}`;

  insertTask(task: Task): void {
    this.tasks.set(task.id, structuredClone(task));
  }

  insertShard(shard: Shard): void {
    this.shards.set(this.key(shard.taskId, shard.shardNo), {
      ...structuredClone(shard),
      touchedAt: this.now(),
    });
  }

  async getTask(taskId: string): Promise<Task | undefined> {
    const t = this.tasks.get(taskId);
    return t && structuredClone(t);
  }

  async getShard(taskId: string, shardNo: number): Promise<Shard | undefined> {
    const s = this.shards.get(this.key(taskId, shardNo));
    if (!s) return undefined;
    return viewOf(s);
  }

  async getShards(taskId: string): Promise<Shard[]> {
    return [...this.shards.values()]
      .filter((s) => s.taskId === taskId)
      .sort((a, b) => a.shardNo - b.shardNo)
      .map(viewOf);
  }

  async tally(taskId: string): Promise<ShardTally> {
    return tallyOf([...this.shards.values()].filter((s) => s.taskId === taskId).map((s) => s.state));
  }

  payloadOf(taskId: string, shardNo: number): unknown {
    return this.shards.get(this.key(taskId, shardNo))?.payload;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  async stalledShards(olderThanMs: number, limit: number): Promise<StalledShard[]> {
    const before = this.now() - olderThanMs;
    return [...this.shards.values()]
      .filter((s) => s.state === 'RUNNING' && (s.touchedAt ?? 0) <= before)
      .sort((a, b) => (a.touchedAt ?? 0) - (b.touchedAt ?? 0))
      .slice(0, limit)
      .map(({ taskId, shardNo, epoch, gen, pages }) => ({ taskId, shardNo, epoch, gen, pages }));
  }

  private applyShard(target: StoredShard, patch: ShardPatch): void {
    target.touchedAt = this.now();
    if (patch.event) {
      const next = nextShardState(target.state, patch.event);
      if (!next) throw new Illegal(`shard ${target.shardNo}: ${patch.event} is illegal in ${target.state}`);
      target.state = next;
    }
    const { event: _, payload, ...rest } = patch;
    Object.assign(target, structuredClone(rest));
    if (payload !== undefined) target.payload = payload === null ? undefined : structuredClone(payload);
  }

  private applyTaskEvent(task: Task, event: Parameters<typeof nextTaskState>[1]): void {
    const next = nextTaskState(task.state, event);
    if (!next) throw new Illegal(`task ${task.id}: ${event} is illegal in ${task.state}`);
    task.state = next;
  }

  private async dispatchAll(dispatch: Dispatch[] | undefined): Promise<void> {
    if (!dispatch?.length) return;
    const out = dispatch.map((d) => {
      if (!d.withStoredPayload) return d;
      const payload = this.shards.get(this.key(d.message.taskId, d.message.shardNo))?.payload;
      const { withStoredPayload: _, ...rest } = d;
      return payload === undefined ? rest : { ...rest, message: { ...d.message, inline: payload } };
    });
    await this.queue.publish(out);
  }

  withShard<T>(
    taskId: string,
    shardNo: number,
    decide: (v: import('../ports').ShardView) => ShardDecision<T>,
  ): Promise<T | undefined> {
    return this.serial(async () => {
      const stored = this.shards.get(this.key(taskId, shardNo));
      const task = this.tasks.get(taskId);
      if (!stored || !task) return undefined;
      const running = [...this.shards.values()].filter(
        (s) => s.taskId === taskId && s.shardNo !== shardNo && s.state === 'RUNNING',
      ).length;
      const { payload, ...shard } = stored;
      const d = decide({
        task: structuredClone(task),
        shard: structuredClone(shard),
        hasPayload: payload !== undefined,
        runningOthers: running,
      });
      const shardCopy = structuredClone(stored);
      const taskCopy = structuredClone(task);
      if (d.patch) this.applyShard(shardCopy, d.patch);
      if (d.taskEvent && nextTaskState(taskCopy.state, d.taskEvent))
        this.applyTaskEvent(taskCopy, d.taskEvent);
      await this.dispatchAll(d.dispatch);
      this.shards.set(this.key(taskId, shardNo), shardCopy);
      this.tasks.set(taskId, taskCopy);
      return d.result;
    });
  }

  withTask<T>(
    taskId: string,
    decide: (v: TaskView) => TaskDecision<T>,
    opts: { withShards?: boolean } = {},
  ): Promise<T | undefined> {
    return this.serial(async () => {
      const task = this.tasks.get(taskId);
      if (!task) return undefined;
      const all = [...this.shards.values()].filter((s) => s.taskId === taskId);
      const d = decide({
        task: structuredClone(task),
        shards: opts.withShards ? all.sort((a, b) => a.shardNo - b.shardNo).map(viewOf) : [],
        tally: tallyOf(all.map((s) => s.state)),
      });
      const taskCopy = structuredClone(task);
      const copies = new Map(all.map((s) => [s.shardNo, structuredClone(s)]));
      if (d.task) {
        const { event, retakeSource, retry, ...rest } = d.task;
        if (event) this.applyTaskEvent(taskCopy, event);
        if (retakeSource) this.retakeSource(taskCopy);
        if (retry) taskCopy.strategy = { ...taskCopy.strategy, retry };
        Object.assign(taskCopy, rest);
      }
      for (const c of d.shards ?? []) {
        const target = copies.get(c.shardNo);
        if (!target) throw new Illegal(`no shard ${c.shardNo}`);
        const { shardNo: _, ...patch } = c;
        this.applyShard(target, patch);
      }
      for (const n of d.newShards ?? []) {
        if (copies.has(n.shardNo)) throw new Illegal(`shard ${n.shardNo} exists`);
        copies.set(n.shardNo, {
          taskId,
          shardNo: n.shardNo,
          state: n.state,
          requested: null,
          epoch: 0,
          gen: 0,
          attempts: 0,
          spec: structuredClone(n.spec),
          cursor: null,
          pages: 0,
          records: 0,
          failedRecords: 0,
          lastError: null,
        });
      }
      await this.dispatchAll(d.dispatch);
      if (d.plan) await this.queue.publishPlan(d.plan.message, d.plan.delayMs);
      this.tasks.set(taskId, taskCopy);
      for (const [no, s] of copies) this.shards.set(this.key(taskId, no), s);
      return d.result;
    });
  }
}

/** Records in a map keyed by `keyOf`, with the same fencing as the real page store. */
export class MemoryPageStore<R> implements PageStore<R> {
  readonly records = new Map<string, R>();
  readonly planned: R[] = [];
  /** Every commit, in order (task, shard, records). */
  readonly commits: { taskId: string; shardNo: number; count: number }[] = [];
  failPrepare: unknown;
  /** Tasks that may no longer write (as a run whose source was taken): their commits halt. */
  readonly refused = new Set<string>();
  constructor(
    private readonly repo: MemoryTaskRepository,
    private readonly keyOf: (r: R) => string,
  ) {}
  async prepare(_task: Task, _records: R[]): Promise<void> {
    if (this.failPrepare) {
      const err = this.failPrepare;
      this.failPrepare = undefined;
      throw err;
    }
  }
  async commit(
    task: Task,
    s: { shardNo: number; epoch: number },
    records: R[],
    cp: Checkpoint,
  ): Promise<CommitOutcome> {
    const out = await this.repo.withShard(task.id, s.shardNo, (v) => {
      if (v.shard.epoch !== s.epoch || v.shard.state !== 'RUNNING')
        return { result: { owned: false } as CommitOutcome };
      if (this.refused.has(task.id)) return { result: { owned: true, halted: true } as CommitOutcome };
      for (const r of records) this.records.set(this.keyOf(r), r);
      this.commits.push({ taskId: task.id, shardNo: s.shardNo, count: records.length });
      return {
        result: { owned: true, requested: v.shard.requested } as CommitOutcome,
        patch: {
          cursor: cp.cursor,
          pages: v.shard.pages + cp.pages,
          records: v.shard.records + cp.records,
          failedRecords: v.shard.failedRecords + cp.failedRecords,
          lastError: null,
          ...(cp.done ? { event: 'complete' as const, requested: null, payload: null } : {}),
        },
      };
    });
    return out ?? { owned: false };
  }
  async committed(_task: Task): Promise<void> {}
  async writePlanned(_task: Task, records: R[]): Promise<void> {
    this.planned.push(...records);
  }
}

export class MemoryLifecycle implements RunLifecycle {
  readonly calls: { step: 'finishing' | 'finished'; taskId: string; state: TaskState }[] = [];
  async finishing(task: Task, final: TaskState): Promise<void> {
    this.calls.push({ step: 'finishing', taskId: task.id, state: final });
  }
  async finished(task: Task, final: TaskState): Promise<void> {
    this.calls.push({ step: 'finished', taskId: task.id, state: final });
  }
}

export type { ShardState };
