/**
 * Task and shard state machines (DESIGN §4) as data: the tables are the single source of truth
 * for which transitions are legal; everything else asks `canTransition*`.
 */
export const TASK_STATES = [
  'CREATED',
  'RUNNING',
  'PAUSED',
  'COMPLETED',
  'PARTIALLY_COMPLETED',
  'FAILED',
  'STOPPED',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const SHARD_STATES = [
  'PENDING',
  'RUNNING',
  'PAUSED',
  'RETRYING',
  'COMPLETED',
  'FAILED',
  'STOPPED',
] as const;
export type ShardState = (typeof SHARD_STATES)[number];

const TASK_TRANSITIONS: Record<TaskState, readonly TaskState[]> = {
  CREATED: ['RUNNING', 'PAUSED', 'STOPPED', 'FAILED'],
  RUNNING: ['PAUSED', 'COMPLETED', 'PARTIALLY_COMPLETED', 'FAILED', 'STOPPED'],
  PAUSED: ['RUNNING', 'STOPPED'],
  COMPLETED: [],
  PARTIALLY_COMPLETED: ['RUNNING'],
  FAILED: ['RUNNING'],
  STOPPED: [],
};

const SHARD_TRANSITIONS: Record<ShardState, readonly ShardState[]> = {
  PENDING: ['RUNNING', 'PAUSED', 'STOPPED'],
  RUNNING: ['COMPLETED', 'RETRYING', 'FAILED', 'PAUSED', 'STOPPED', 'PENDING'],
  PAUSED: ['PENDING', 'STOPPED'],
  RETRYING: ['RUNNING', 'PAUSED', 'FAILED', 'STOPPED'],
  COMPLETED: [],
  FAILED: ['PENDING'],
  STOPPED: [],
};

export const TERMINAL_TASK_STATES: readonly TaskState[] = TASK_STATES.filter(
  (s) => TASK_TRANSITIONS[s].length === 0,
);

/**
 * States a task ends in: no worker moves it on. Wider than TERMINAL_TASK_STATES, because a
 * retry may reopen PARTIALLY_COMPLETED and FAILED; until then they are as final as the others.
 */
export const FINISHED_TASK_STATES: readonly TaskState[] = [
  'COMPLETED',
  'PARTIALLY_COMPLETED',
  'FAILED',
  'STOPPED',
];

export function isTaskFinished(state: TaskState): boolean {
  return FINISHED_TASK_STATES.includes(state);
}

export function canTransitionTask(from: TaskState, to: TaskState): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

export function canTransitionShard(from: ShardState, to: ShardState): boolean {
  return SHARD_TRANSITIONS[from].includes(to);
}

/** A shard state that no worker will move on by itself. */
export function isShardSettled(state: ShardState): boolean {
  return state === 'COMPLETED' || state === 'FAILED' || state === 'STOPPED';
}

export interface ShardTally {
  total: number;
  completed: number;
  failed: number;
  stopped: number;
}

/**
 * The state a running task reaches once every shard is settled, or `undefined` while some are not.
 * All completed → COMPLETED; none completed → FAILED (or STOPPED); a mix → PARTIALLY_COMPLETED.
 */
export function settledTaskState(t: ShardTally): TaskState | undefined {
  if (t.completed + t.failed + t.stopped < t.total) return undefined;
  if (t.completed === t.total) return 'COMPLETED';
  if (t.completed === 0) return t.stopped > 0 && t.failed === 0 ? 'STOPPED' : 'FAILED';
  return 'PARTIALLY_COMPLETED';
}
