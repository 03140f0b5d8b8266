import { describe, expect, it } from 'vitest';
import {
  canTransitionShard,
  canTransitionTask,
  isShardSettled,
  isTaskFinished,
  SHARD_STATES,
  settledTaskState,
  TASK_STATES,
  TERMINAL_TASK_STATES,
} from '../src/states';

describe('task state machine', () => {
  const legal = new Set([
    'CREATED>RUNNING',
    'CREATED>PAUSED',
    'CREATED>STOPPED',
    'CREATED>FAILED',
    'RUNNING>PAUSED',
    'RUNNING>COMPLETED',
    'RUNNING>PARTIALLY_COMPLETED',
    'RUNNING>FAILED',
    'RUNNING>STOPPED',
    'PAUSED>RUNNING',
    'PAUSED>STOPPED',
    'PARTIALLY_COMPLETED>RUNNING',
    'FAILED>RUNNING',
  ]);

  it('allows exactly the transitions of DESIGN §4, for every pair of states', () => {
    for (const from of TASK_STATES) {
      for (const to of TASK_STATES) {
        expect(canTransitionTask(from, to), `${from} → ${to}`).toBe(legal.has(`${from}>${to}`));
      }
    }
  });

  it('calls every state a task can end in finished, and only those', () => {
    expect(TASK_STATES.filter(isTaskFinished)).toEqual([
      'COMPLETED',
      'PARTIALLY_COMPLETED',
      'FAILED',
      'STOPPED',
    ]);
  });

  it('treats COMPLETED and STOPPED as terminal', () => {
    expect([...TERMINAL_TASK_STATES].sort()).toEqual(['COMPLETED', 'STOPPED']);
  });
});

describe('shard state machine', () => {
  const legal = new Set([
    'PENDING>RUNNING',
    'PENDING>PAUSED',
    'PENDING>STOPPED',
    'RUNNING>COMPLETED',
    'RUNNING>RETRYING',
    'RUNNING>FAILED',
    'RUNNING>PAUSED',
    'RUNNING>STOPPED',
    'RUNNING>PENDING',
    'PAUSED>PENDING',
    'PAUSED>STOPPED',
    'RETRYING>RUNNING',
    'RETRYING>PAUSED',
    'RETRYING>FAILED',
    'RETRYING>STOPPED',
    'FAILED>PENDING',
  ]);

  it('allows exactly the listed transitions, for every pair of states', () => {
    for (const from of SHARD_STATES) {
      for (const to of SHARD_STATES) {
        expect(canTransitionShard(from, to), `${from} → ${to}`).toBe(legal.has(`${from}>${to}`));
      }
    }
  });

  it('calls only COMPLETED, FAILED and STOPPED settled', () => {
    expect(SHARD_STATES.filter(isShardSettled)).toEqual(['COMPLETED', 'FAILED', 'STOPPED']);
  });
});

describe('settledTaskState', () => {
  it('is undefined while a shard is still open', () => {
    expect(settledTaskState({ total: 3, completed: 2, failed: 0, stopped: 0 })).toBeUndefined();
  });
  it('completes when every shard completed', () => {
    expect(settledTaskState({ total: 3, completed: 3, failed: 0, stopped: 0 })).toBe('COMPLETED');
  });
  it('is partial on a mix of completed and failed shards', () => {
    expect(settledTaskState({ total: 3, completed: 2, failed: 1, stopped: 0 })).toBe('PARTIALLY_COMPLETED');
  });
  it('fails when no shard completed', () => {
    expect(settledTaskState({ total: 2, completed: 0, failed: 2, stopped: 0 })).toBe('FAILED');
  });
  it('is stopped when every shard was stopped', () => {
    expect(settledTaskState({ total: 2, completed: 0, failed: 0, stopped: 2 })).toBe('STOPPED');
  });
});
