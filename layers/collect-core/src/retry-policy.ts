import type { RetryPolicy } from './model';

/**
 * How a failure is handled:
 * - `rate-limited`: the source asked us to slow down (429, or 503 with Retry-After): wait as told,
 *   no attempt spent;
 * - `retryable`: worth another try after a backoff (5xx, timeouts, resets, truncated bodies);
 * - `shard-fatal`: this shard's work is wrong (400, 404): fail the shard at once;
 * - `task-fatal`: no shard can succeed (401, 403: credentials rejected): fail the task at once;
 * - `unavailable`: one of our own stores or the broker is down: not the shard's fault, the
 *   worker waits it out or hands the message back.
 */
export type FailureKind = 'rate-limited' | 'retryable' | 'shard-fatal' | 'task-fatal' | 'unavailable';

/** A failure of a source, classified by the collector that saw it. */
export class CollectError extends Error {
  readonly kind: FailureKind;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;
  constructor(
    kind: FailureKind,
    message: string,
    opts: { retryAfterMs?: number; status?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'CollectError';
    this.kind = kind;
    this.retryAfterMs = opts.retryAfterMs;
    this.status = opts.status;
  }
}

export interface Failure {
  kind: FailureKind;
  message: string;
  retryAfterMs?: number | undefined;
}

/** Classifies by the error's `kind` (set by collectors), else as retryable. */
export function classifyFailure(
  err: unknown,
  isUnavailable: (err: unknown) => boolean = () => false,
): Failure {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof CollectError) return { kind: err.kind, message, retryAfterMs: err.retryAfterMs };
  if (isUnavailable(err)) return { kind: 'unavailable', message };
  return { kind: 'retryable', message };
}

/**
 * Backoff before attempt `attempt + 1` (attempt ≥ 1): "full jitter", a random delay between 0 and
 * min(maxDelay, base · 2^(attempt-1)), so shards failing together do not come back together.
 * Written here rather than taken from a library: the wait happens in a RabbitMQ delay queue, not
 * in-process, so only the formula is needed.
 */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

export type RetryDecision =
  | { action: 'retry'; delayMs: number; attempts: number }
  | { action: 'fail-shard'; attempts: number }
  | { action: 'fail-task'; attempts: number };

/** Longest a rate-limited shard waits, whatever the source says. */
export const MAX_RATE_LIMIT_WAIT_MS = 15 * 60_000;

/** What to do with a shard after `failure`, having failed `attempts` times before. */
export function decideRetry(
  policy: RetryPolicy,
  attempts: number,
  failure: Failure,
  random: () => number = Math.random,
): RetryDecision {
  switch (failure.kind) {
    case 'task-fatal':
      return { action: 'fail-task', attempts: attempts + 1 };
    case 'shard-fatal':
      return { action: 'fail-shard', attempts: attempts + 1 };
    case 'rate-limited': {
      const told = failure.retryAfterMs;
      const delayMs =
        told !== undefined
          ? Math.min(told, MAX_RATE_LIMIT_WAIT_MS)
          : Math.max(policy.baseDelayMs, backoffDelay(policy, attempts + 1, random));
      return { action: 'retry', delayMs, attempts };
    }
    default: {
      const next = attempts + 1;
      if (next >= policy.maxAttempts) return { action: 'fail-shard', attempts: next };
      return { action: 'retry', delayMs: backoffDelay(policy, next, random), attempts: next };
    }
  }
}
