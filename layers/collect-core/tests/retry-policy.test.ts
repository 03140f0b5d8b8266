import { describe, expect, it } from 'vitest';
import { backoffDelay, CollectError, classifyFailure, decideRetry } from '../src/retry-policy';

const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000 };

describe('backoffDelay', () => {
  it('draws from 0 to base·2^(attempt-1), capped at maxDelay', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(policy, a, () => 0.999))).toEqual([
      99, 199, 399, 799, 999,
    ]);
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
  });
});

describe('decideRetry', () => {
  it('retries retryable failures until maxAttempts, then fails the shard', () => {
    const f = { kind: 'retryable' as const, message: 'x' };
    expect(decideRetry(policy, 0, f, () => 0.5)).toEqual({ action: 'retry', delayMs: 50, attempts: 1 });
    expect(decideRetry(policy, 2, f, () => 0.5)).toMatchObject({ action: 'retry', attempts: 3 });
    expect(decideRetry(policy, 3, f)).toEqual({ action: 'fail-shard', attempts: 4 });
  });
  it('waits as told on rate limits without counting an attempt', () => {
    expect(decideRetry(policy, 3, { kind: 'rate-limited', message: 'x', retryAfterMs: 7000 })).toEqual({
      action: 'retry',
      delayMs: 7000,
      attempts: 3,
    });
  });
  it('fails the shard or the task at once on fatal failures', () => {
    expect(decideRetry(policy, 0, { kind: 'shard-fatal', message: 'x' }).action).toBe('fail-shard');
    expect(decideRetry(policy, 0, { kind: 'task-fatal', message: 'x' }).action).toBe('fail-task');
  });
});

describe('classifyFailure', () => {
  it('takes the kind a collector set, store outages as unavailable, anything else as retryable', () => {
    expect(classifyFailure(new CollectError('shard-fatal', 'bad'))).toMatchObject({ kind: 'shard-fatal' });
    expect(classifyFailure(new Error('down'), () => true).kind).toBe('unavailable');
    expect(classifyFailure(new TypeError('bug')).kind).toBe('retryable');
  });
});
