import type { ShardState, TaskState } from './states';

export type RunMode = 'FULL' | 'INCREMENTAL' | 'RANGE';

/** What a run covers beyond its mode: a subtree, or a window of update times. */
export type RunRange = { rootId: string } | { updatedAfter: string; updatedBefore?: string | undefined };

/** How failed pages are retried: exponential backoff with full jitter, `maxAttempts` in all. */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** How a run is carried out. Every field has a default (see `resolveStrategy`). */
export interface Strategy {
  /** How many shards the planner aims for. */
  shards: number;
  /** Records asked of the source per request. */
  pageSize: number;
  /** Most shards of the task running at once, over all workers; 0 = no limit of its own. */
  concurrency: number;
  /** Most requests per second to the source, over all workers; 0 = no limit. */
  ratePerSecond: number;
  retry: RetryPolicy;
}

export const DEFAULT_STRATEGY: Strategy = {
  shards: 4,
  pageSize: 250,
  concurrency: 0,
  ratePerSecond: 0,
  retry: { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 },
};

export function resolveStrategy(
  s: Partial<Omit<Strategy, 'retry'>> & { retry?: Partial<RetryPolicy> } = {},
): Strategy {
  return {
    shards: s.shards ?? DEFAULT_STRATEGY.shards,
    pageSize: s.pageSize ?? DEFAULT_STRATEGY.pageSize,
    concurrency: s.concurrency ?? DEFAULT_STRATEGY.concurrency,
    ratePerSecond: s.ratePerSecond ?? DEFAULT_STRATEGY.ratePerSecond,
    retry: { ...DEFAULT_STRATEGY.retry, ...(s.retry ?? {}) },
  };
}

/** A control asked of a task or shard that a worker carries out at its next page boundary. */
export type ControlRequest = 'PAUSE' | 'STOP';

/** A task as the engine sees it. */
export interface Task {
  id: string;
  tenantId: string;
  /** Collector type, e.g. `testrail`. */
  collector: string;
  /** The collector version that runs it (gray release); `null` = the service's default version. */
  collectorVersion?: string | null;
  /** The job that started it, if a job did (its flow key `job:{id}`). */
  jobId?: string | null;
  source: string;
  mode: RunMode;
  state: TaskState;
  requested: ControlRequest | null;
  /** The collector's settings, secrets included: never shown, never logged. */
  settings: unknown;
  range: RunRange | null;
  strategy: Strategy;
  /** Shards exist and none will be added. */
  sealed: boolean;
  /** INCREMENTAL runs: changes since this instant (ISO), `null` = everything. */
  since: string | null;
  /** The instant the run's source reads started from (ISO): the next watermark. */
  startedReadingAt: string | null;
  lastError: string | null;
}

/** A shard as the engine sees it. */
export interface Shard {
  taskId: string;
  shardNo: number;
  state: ShardState;
  requested: ControlRequest | null;
  /** Fencing token: bumped by every claim; every write of a worker is conditional on it. */
  epoch: number;
  /** Dispatch generation: bumped whenever a message is queued for it; older messages are stale. */
  gen: number;
  /** Failed attempts since the last success or reset (rate-limited waits do not count). */
  attempts: number;
  /** What the shard covers, as planned by its collector. */
  spec: unknown;
  /** Where the next page starts (`null` = the beginning). */
  cursor: unknown;
  pages: number;
  records: number;
  failedRecords: number;
  lastError: string | null;
  /** Push shards: whether the shard keeps its page (it was parked or failed with it). */
  keptPayload?: boolean;
}

/** Shard ids shown by the API: URL-safe, stable per task. */
export const shardIdOf = (shardNo: number): string => `s${shardNo}`;

export function shardNoOf(shardId: string): number | undefined {
  const m = /^s(\d{1,9})$/.exec(shardId);
  return m ? Number(m[1]) : undefined;
}

/** A message that makes a worker run (part of) a shard. */
export interface ShardMessage {
  taskId: string;
  shardNo: number;
  gen: number;
  /** Epoch ms before which the shard must not run (delays longer than a queue tier). */
  notBefore?: number | undefined;
  /** Push sources: the shard's one page, carried by the message. */
  inline?: unknown;
}

/** A message that makes a worker plan a task. */
export interface PlanMessage {
  taskId: string;
  attempt: number;
  notBefore?: number | undefined;
}

/** One line of a task's log. */
export interface TaskEventEntry {
  taskId: string;
  shardNo?: number | undefined;
  level: 'info' | 'warn' | 'error';
  /** Stable kind, e.g. `shard.paused`. */
  type: string;
  message: string;
  data?: Record<string, unknown> | undefined;
}
