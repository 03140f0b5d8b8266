import { describe, expect, it } from 'vitest';
import {
  emptyTally,
  isShardSettled,
  isTaskFinished,
  nextShardState,
  nextTaskState,
  SHARD_EVENTS,
  SHARD_STATES,
  TASK_EVENTS,
  TASK_STATES,
  type TaskOutlook,
  TERMINAL_TASK_STATES,
  taskEventFromShards,
} from '../src/states';

describe('task state machine', () => {
  const legal: Record<string, string> = {
    'CREATED start': 'RUNNING',
    'PAUSED start': 'RUNNING',
    'CREATED pause': 'PAUSED',
    'RUNNING pause': 'PAUSED',
    'PAUSED resume': 'RUNNING',
    'RUNNING complete': 'COMPLETED',
    'RUNNING completePartially': 'PARTIALLY_COMPLETED',
    'PAUSED completePartially': 'PARTIALLY_COMPLETED',
    'CREATED fail': 'FAILED',
    'RUNNING fail': 'FAILED',
    'PAUSED fail': 'FAILED',
    'CREATED stop': 'STOPPED',
    'RUNNING stop': 'STOPPED',
    'PAUSED stop': 'STOPPED',
    'PARTIALLY_COMPLETED retry': 'RUNNING',
    'FAILED retry': 'RUNNING',
  };

  it('moves exactly as listed, for every state and event', () => {
    for (const from of TASK_STATES)
      for (const event of TASK_EVENTS)
        expect(nextTaskState(from, event), `${from} ${event}`).toBe(legal[`${from} ${event}`]);
  });

  it('calls every state a task can end in finished, and COMPLETED and STOPPED terminal', () => {
    expect(TASK_STATES.filter(isTaskFinished)).toEqual([
      'COMPLETED',
      'PARTIALLY_COMPLETED',
      'FAILED',
      'STOPPED',
    ]);
    expect([...TERMINAL_TASK_STATES].sort()).toEqual(['COMPLETED', 'STOPPED']);
  });
});

describe('shard state machine', () => {
  const legal: Record<string, string> = {
    'PENDING claim': 'RUNNING',
    'RETRYING claim': 'RUNNING',
    'RUNNING claim': 'RUNNING',
    'RUNNING complete': 'COMPLETED',
    'RUNNING release': 'PENDING',
    'RUNNING retryLater': 'RETRYING',
    'PENDING fail': 'FAILED',
    'RUNNING fail': 'FAILED',
    'RETRYING fail': 'FAILED',
    'PAUSED fail': 'FAILED',
    'RUNNING park': 'PAUSED',
    'RUNNING halt': 'STOPPED',
    'PENDING pause': 'PAUSED',
    'RETRYING pause': 'PAUSED',
    'PAUSED resume': 'PENDING',
    'PENDING stop': 'STOPPED',
    'RETRYING stop': 'STOPPED',
    'PAUSED stop': 'STOPPED',
    'FAILED retry': 'PENDING',
    'FAILED restart': 'PENDING',
    'COMPLETED restart': 'PENDING',
  };

  it('moves exactly as listed, for every state and event', () => {
    for (const from of SHARD_STATES)
      for (const event of SHARD_EVENTS)
        expect(nextShardState(from, event), `${from} ${event}`).toBe(legal[`${from} ${event}`]);
  });

  it('never leaves STOPPED: stop is final', () => {
    expect(SHARD_EVENTS.map((e) => nextShardState('STOPPED', e)).filter(Boolean)).toEqual([]);
  });

  it('calls only COMPLETED, FAILED and STOPPED settled', () => {
    expect(SHARD_STATES.filter(isShardSettled)).toEqual(['COMPLETED', 'FAILED', 'STOPPED']);
  });
});

describe('the task state its shards call for', () => {
  const outlook = (
    state: TaskOutlook['state'],
    tally: Partial<TaskOutlook['tally']>,
    extra: Partial<TaskOutlook> = {},
  ) =>
    taskEventFromShards({
      state,
      stopRequested: false,
      sealed: true,
      tally: { ...emptyTally(), ...tally },
      ...extra,
    });

  it('waits while a shard is open', () => {
    expect(outlook('RUNNING', { COMPLETED: 2, RUNNING: 1 })).toBeUndefined();
  });
  it('completes when every shard completed (also when there is none)', () => {
    expect(outlook('RUNNING', { COMPLETED: 3 })).toBe('complete');
    expect(outlook('RUNNING', {})).toBe('complete');
  });
  it('is partial on a mix, failed when none completed, stopped when stopped', () => {
    expect(outlook('RUNNING', { COMPLETED: 2, FAILED: 1 })).toBe('completePartially');
    expect(outlook('RUNNING', { COMPLETED: 2, STOPPED: 1 })).toBe('completePartially');
    expect(outlook('RUNNING', { FAILED: 2 })).toBe('fail');
    expect(outlook('RUNNING', { STOPPED: 2 })).toBe('stop');
    expect(outlook('RUNNING', { COMPLETED: 2, STOPPED: 1 }, { stopRequested: true })).toBe('stop');
  });
  it('pauses once nothing runs or waits in the queue, and runs again when something does', () => {
    expect(outlook('RUNNING', { COMPLETED: 1, PAUSED: 1 })).toBe('pause');
    expect(outlook('RUNNING', { RUNNING: 1, PAUSED: 1 })).toBeUndefined();
    expect(outlook('PAUSED', { PENDING: 1, PAUSED: 1 })).toBe('start');
  });
  it('says nothing of a task still being planned or already finished', () => {
    expect(outlook('RUNNING', {}, { sealed: false })).toBeUndefined();
    expect(outlook('RUNNING', { COMPLETED: 3 }, { sealed: false })).toBeUndefined();
    expect(outlook('FAILED', { COMPLETED: 2 })).toBeUndefined();
  });
  it('pauses a task still getting shards only when its pause was asked and none of its shards runs', () => {
    const unsealed = { sealed: false, pauseRequested: true };
    expect(outlook('RUNNING', { COMPLETED: 1, PAUSED: 2 }, unsealed)).toBe('pause');
    expect(outlook('RUNNING', { PENDING: 1, PAUSED: 2 }, unsealed)).toBeUndefined();
    expect(outlook('RUNNING', { COMPLETED: 1, PAUSED: 2 }, { sealed: false })).toBeUndefined();
  });
});
