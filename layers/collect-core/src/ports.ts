/**
 * The ports the engine needs. Adapters (MySQL, RabbitMQ, MongoDB, Redis; in-memory for unit
 * tests) implement them; no port names a driver, a connection or a transaction. Where one unit
 * of work must be atomic, the port says so and the adapter makes it one transaction.
 */

import type { Admission, BreakerStateName } from './breaker';
import type { AdaptSignal } from './flow-adapt';
import type {
  ControlRequest,
  PlanMessage,
  RetryPolicy,
  Shard,
  ShardMessage,
  Strategy,
  Task,
  TaskEventEntry,
} from './model';
import type { ShardEvent, ShardState, ShardTally, TaskEvent, TaskState } from './states';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** A message to queue as part of a unit of work: published before the unit commits. */
export interface Dispatch {
  route: string;
  message: ShardMessage;
  delayMs?: number;
  /** Push shards: send the payload the shard kept when it was parked or failed. */
  withStoredPayload?: boolean;
}

/** The shard fields a unit of work may change; absent = unchanged. */
export interface ShardPatch {
  /** The state moves by this event of the shard table; an illegal one aborts the unit. */
  event?: ShardEvent;
  requested?: ControlRequest | null;
  epoch?: number;
  gen?: number;
  attempts?: number;
  cursor?: unknown;
  /** Counters are set, not added (the decision read them under the lock). */
  pages?: number;
  records?: number;
  failedRecords?: number;
  lastError?: string | null;
  /** Push shards: keep the message's page (parked, failed) or drop it (`null`). */
  payload?: unknown;
}

export interface TaskPatch {
  event?: TaskEvent;
  requested?: ControlRequest | null;
  lastError?: string | null;
  sealed?: boolean;
  startedReadingAt?: string;
  retry?: RetryPolicy;
  /** Take the task's source again (a retry of a finished run); fails with SourceBusyError. */
  retakeSource?: boolean;
}

export interface NewShard {
  shardNo: number;
  state: ShardState;
  spec: unknown;
}

export interface ShardView {
  task: Task;
  shard: Shard;
  /** Whether the shard keeps a payload (push shards parked or failed). */
  hasPayload: boolean;
  /** Shards of the same task RUNNING now, this one excluded (only read when the task limits concurrency). */
  runningOthers: number;
}

export interface ShardDecision<T> {
  result: T;
  patch?: ShardPatch;
  /** Moves the task too (e.g. a first claim starts it), when the event is legal for its state. */
  taskEvent?: TaskEvent;
  dispatch?: Dispatch[];
}

export interface TaskView {
  task: Task;
  /** Every shard, when asked for (`withShards`), else empty. */
  shards: Shard[];
  tally: ShardTally;
}

export interface TaskDecision<T> {
  result: T;
  task?: TaskPatch;
  shards?: (ShardPatch & { shardNo: number })[];
  newShards?: NewShard[];
  dispatch?: Dispatch[];
  plan?: { message: PlanMessage; delayMs?: number };
}

/** A shard RUNNING without a checkpoint for a while, as `stalledShards` finds it. */
export interface StalledShard {
  taskId: string;
  shardNo: number;
  epoch: number;
  gen: number;
  pages: number;
}

/** Tasks and shards; MySQL is the truth. */
export interface TaskRepository {
  getTask(taskId: string): Promise<Task | undefined>;
  getShard(taskId: string, shardNo: number): Promise<Shard | undefined>;
  getShards(taskId: string): Promise<Shard[]>;
  tally(taskId: string): Promise<ShardTally>;
  /**
   * One unit: locks the shard, reads it with its task, applies what `decide` returns, and queues
   * its dispatches before committing (a failed publish rolls the unit back). Returns
   * `undefined` when there is no such shard.
   */
  withShard<T>(
    taskId: string,
    shardNo: number,
    decide: (v: ShardView) => ShardDecision<T>,
  ): Promise<T | undefined>;
  /**
   * Shards RUNNING whose row has not changed for `olderThanMs` (no claim, page or control since),
   * oldest first, at most `limit`.
   */
  stalledShards(olderThanMs: number, limit: number): Promise<StalledShard[]>;
  /** The same for a task (locked) and its shards. */
  withTask<T>(
    taskId: string,
    decide: (v: TaskView) => TaskDecision<T>,
    opts?: { withShards?: boolean },
  ): Promise<T | undefined>;
}

/** The queue the workers consume. Every publish resolves once the broker confirmed it. */
export interface ShardQueue {
  publish(dispatches: Dispatch[]): Promise<void>;
  publishPlan(message: PlanMessage, delayMs?: number): Promise<void>;
}

/** What a page's checkpoint says. */
export interface Checkpoint {
  /** Where the next page starts; `null` when `done`. */
  cursor: unknown;
  done: boolean;
  pages: number;
  records: number;
  failedRecords: number;
}

export type CommitOutcome =
  | { owned: false }
  /** `refused`: why records of the page were not stored (counted as failed by the store). */
  | { owned: true; requested: ControlRequest | null; refused?: string[] }
  /**
   * The store wrote nothing: the run may no longer write (its output was discarded: it was
   * cancelled, or a newer run took its source). The shard stops.
   */
  | { owned: true; halted: true };

/**
 * Where a run's records go. `commit` is the unit the design calls commitPage: the page's
 * records and the shard's checkpoint (counters added, cursor moved, COMPLETED when done) in one
 * transaction, only while `epoch` still owns the shard.
 */
export interface PageStore<R> {
  /** Writes that must be durable before the checkpoint and are idempotent (documents). */
  prepare(task: Task, records: R[]): Promise<void>;
  commit(
    task: Task,
    shard: { shardNo: number; epoch: number },
    records: R[],
    checkpoint: Checkpoint,
  ): Promise<CommitOutcome>;
  /** After a commit: caches. */
  committed(task: Task): Promise<void>;
  /** Records a collector lists while planning (a tree's directories), before any shard runs. */
  writePlanned(task: Task, records: R[]): Promise<void>;
}

/** The business side of a run's end. Both steps are idempotent: a replay runs them again. */
export interface RunLifecycle {
  /** Before the task is marked final (e.g. a FULL run deletes what the source no longer has). */
  finishing(task: Task, final: TaskState): Promise<void>;
  /** After the task is marked final (e.g. the source is free again, caches are invalidated). */
  finished(task: Task, final: TaskState): Promise<void>;
}

export interface EventLog {
  /** Never fails the work it describes. */
  record(e: TaskEventEntry): Promise<void>;
}

/**
 * Flow tokens: takes one for `key` under `perSecond` and answers 0, or answers how long to wait
 * before asking again.
 */
export interface RateLimiter {
  reserve(key: string, perSecond: number): Promise<number>;
}

/** A flow key's limits (absent = unlimited): shards at once, and requests per second (with a burst). */
export interface FlowLimit {
  concurrency?: number;
  ratePerSecond?: number;
  burst?: number;
  /** `tenant:` keys: tasks of the tenant unfinished at once (a start beyond it is refused). */
  tasks?: number;
}

/** Why a shard may not go on now under its flow keys. */
export interface FlowRefusal {
  key: string;
  /** `concurrency`: the key's slots are taken; the shard yields and comes back later. */
  reason: 'concurrency';
  limit: number;
}

/**
 * Flow control across every worker: per-key concurrency (slots held by running shards, as
 * leases that expire, so a killed worker never keeps one) and per-key request rates. Keys are
 * `tenant:{id}`, `job:{id}`, `host:{source host}` (and `function:{name}`, which the event source
 * applies). Limits change at runtime; a worker learns a change within a second.
 */
export interface FlowControl {
  /**
   * Takes (or keeps) `holder`'s slot under every key. A holder keeps its slot while it is among
   * the first `limit` holders of a key: a lowered limit makes the later ones yield at their next
   * page. All or nothing: refused under one key, the holder holds none.
   */
  enter(keys: readonly string[], holder: string, leaseMs: number): Promise<FlowRefusal | undefined>;
  leave(keys: readonly string[], holder: string): Promise<void>;
  /** Takes one request under every key's rate and answers 0, or how long to wait first. */
  reserve(keys: readonly string[]): Promise<number>;
  /**
   * What a source's answer says of its keys' rates (see flow-adapt.ts): `slow-down` (429, 503)
   * halves the adaptive keys' rates, `ok` (a page answered) gives a little back.
   */
  adapt(keys: readonly string[], signal: AdaptSignal): Promise<void>;
}

/** A breaker as shown: its state, and how many shards it holds parked. */
export interface BreakerView {
  key: string;
  state: BreakerStateName;
  failures: number;
  /** OPEN: when the cool-down ends (ISO); null otherwise. */
  openUntil: string | null;
  parked: number;
}

/**
 * Circuit breakers per source host, shared by every worker (see breaker.ts for the states). An
 * adapter applies each step of the state machine atomically.
 */
export interface CircuitBreakers {
  /** Before a request: go, park (the breaker is open), or go as its probe. */
  admit(key: string, holder: string): Promise<Admission>;
  /** A request was answered: the holders parked under a breaker this closed, to resume. */
  succeeded(key: string): Promise<string[]>;
  /** A request failed: the cool-down when this failure opened the breaker (its holder probes). */
  failed(key: string, holder: string): Promise<number | undefined>;
  /** Parks a holder under an open breaker; `true` when it was closed meanwhile (resume at once). */
  park(key: string, holder: string): Promise<boolean>;
  view(key: string): Promise<BreakerView>;
}

/**
 * Fast hint that a control was asked of a task since a worker last looked: a token that changes
 * on every control. The truth stays in the repository; an unreadable flag reads as "changed".
 */
export interface ControlFlags {
  token(taskId: string): Promise<string | undefined>;
  bump(taskId: string): Promise<void>;
}

/** Settings are checked with any schema of this shape (zod's, say). */
export interface SettingsSchema<S> {
  safeParse(
    value: unknown,
  ):
    | { success: true; data: S }
    | { success: false; error: { issues: { path: PropertyKey[]; message: string; code?: string }[] } };
}

export interface PlanContext<S> {
  task: Task;
  settings: S;
  strategy: Strategy;
  /** Waits for a flow token; call before each source request. */
  throttle(): Promise<void>;
}

export interface PageContext<S, Spec> {
  task: Task;
  settings: S;
  strategy: Strategy;
  spec: Spec;
  shardNo: number;
  /** Push shards: the page the message carried. */
  inline?: unknown;
}

/** What planning lists: records to write at once (and why others were refused), or a shard. */
export type PlanStep<Spec, R> = { records: R[]; rejected?: string[] } | { shard: Spec };

export interface Page<Item, C> {
  items: Item[];
  /** Where the next page starts; `null` = the shard is done. */
  next: C | null;
  /** Items the source sent that cannot be stored (counted as failed records). */
  rejected?: number;
  /** Why (some of) them were refused, for the task's log. */
  reasons?: string[];
}

/**
 * The Collector SPI: a source's plugin. It plans a run into shards, fetches one page of a shard
 * from a cursor, and maps a page's items to records for the page store.
 */
export interface Collector<S = unknown, Spec = unknown, C = unknown, Item = unknown, R = unknown> {
  readonly type: string;
  readonly version: string;
  /** The worker queue its shards run on. */
  readonly route: string;
  /**
   * Push collectors: a shard's page travels in its message (`inline`), not fetched from a source;
   * a shard that leaves the queue without applying it keeps it until it runs again.
   */
  readonly push?: boolean;
  readonly settings: SettingsSchema<S>;
  /** Setting names never shown or logged. */
  readonly secrets: readonly string[];
  plan(ctx: PlanContext<S>): AsyncIterable<PlanStep<Spec, R>>;
  fetchPage(ctx: PageContext<S, Spec>, cursor: C | null): Promise<Page<Item, C>>;
  map(items: Item[], ctx: PageContext<S, Spec>): R[];
}
