/**
 * Task and shard state machines (DESIGN §4) as data. Every state change names an event; the
 * tables say, per event, which state it moves each state to. Nothing else decides: adapters and
 * use cases call `nextTaskState` / `nextShardState` and refuse what the tables do not list.
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

/** What may happen to a task. */
export type TaskEvent =
  | 'start'
  | 'pause'
  | 'resume'
  | 'complete'
  | 'completePartially'
  | 'fail'
  | 'stop'
  | 'retry';

/** What may happen to a shard; `claim`..`halt` are a worker's, the rest the API's. */
export type ShardEvent =
  /** A worker takes the shard for one delivery (a redelivery re-claims a RUNNING shard). */
  | 'claim'
  /** The last page is committed. */
  | 'complete'
  /** The worker ran out of time and queued a continuation. */
  | 'release'
  /** A failure that is worth another try later (delay queue). */
  | 'retryLater'
  | 'fail'
  /** The worker honours a pause at a page boundary. */
  | 'park'
  /** The worker honours a stop at a page boundary. */
  | 'halt'
  /** The API pauses a shard no worker runs right now. */
  | 'pause'
  | 'resume'
  /** The API stops a shard no worker runs right now. */
  | 'stop'
  /** The API retries a failed shard from its checkpoint. */
  | 'retry'
  /** The API runs a settled shard again from its start (retry scope ALL). */
  | 'restart';

const TASK_TABLE: Record<TaskEvent, Partial<Record<TaskState, TaskState>>> = {
  start: { CREATED: 'RUNNING', PAUSED: 'RUNNING' },
  pause: { CREATED: 'PAUSED', RUNNING: 'PAUSED' },
  resume: { PAUSED: 'RUNNING' },
  complete: { RUNNING: 'COMPLETED' },
  completePartially: { RUNNING: 'PARTIALLY_COMPLETED', PAUSED: 'PARTIALLY_COMPLETED' },
  fail: { CREATED: 'FAILED', RUNNING: 'FAILED', PAUSED: 'FAILED' },
  stop: { CREATED: 'STOPPED', RUNNING: 'STOPPED', PAUSED: 'STOPPED' },
  retry: { PARTIALLY_COMPLETED: 'RUNNING', FAILED: 'RUNNING' },
};

const SHARD_TABLE: Record<ShardEvent, Partial<Record<ShardState, ShardState>>> = {
  claim: { PENDING: 'RUNNING', RETRYING: 'RUNNING', RUNNING: 'RUNNING' },
  complete: { RUNNING: 'COMPLETED' },
  release: { RUNNING: 'PENDING' },
  retryLater: { RUNNING: 'RETRYING' },
  fail: { PENDING: 'FAILED', RUNNING: 'FAILED', RETRYING: 'FAILED', PAUSED: 'FAILED' },
  park: { RUNNING: 'PAUSED' },
  halt: { RUNNING: 'STOPPED' },
  pause: { PENDING: 'PAUSED', RETRYING: 'PAUSED' },
  resume: { PAUSED: 'PENDING' },
  stop: { PENDING: 'STOPPED', RETRYING: 'STOPPED', PAUSED: 'STOPPED' },
  retry: { FAILED: 'PENDING' },
  restart: { FAILED: 'PENDING', COMPLETED: 'PENDING' },
};

export const TASK_EVENTS = Object.keys(TASK_TABLE) as TaskEvent[];
export const SHARD_EVENTS = Object.keys(SHARD_TABLE) as ShardEvent[];

/** The state `event` moves a task in `from` to, or `undefined` when the event is illegal there. */
export function nextTaskState(from: TaskState, event: TaskEvent): TaskState | undefined {
  return TASK_TABLE[event][from];
}

/** The state `event` moves a shard in `from` to, or `undefined` when the event is illegal there. */
export function nextShardState(from: ShardState, event: ShardEvent): ShardState | undefined {
  return SHARD_TABLE[event][from];
}

/** Whether some event moves a task from `from` to `to`. */
export function canTransitionTask(from: TaskState, to: TaskState): boolean {
  return TASK_EVENTS.some((e) => TASK_TABLE[e][from] === to && from !== to);
}

/** Whether some event moves a shard from `from` to `to` (a re-claim stays RUNNING). */
export function canTransitionShard(from: ShardState, to: ShardState): boolean {
  return SHARD_EVENTS.some((e) => SHARD_TABLE[e][from] === to);
}

/** States a task ends in: no worker moves it on; only a retry may reopen some of them. */
export const FINISHED_TASK_STATES: readonly TaskState[] = [
  'COMPLETED',
  'PARTIALLY_COMPLETED',
  'FAILED',
  'STOPPED',
];

/** States no event leaves. */
export const TERMINAL_TASK_STATES: readonly TaskState[] = TASK_STATES.filter((s) =>
  TASK_EVENTS.every((e) => TASK_TABLE[e][s] === undefined),
);

export function isTaskFinished(state: TaskState): boolean {
  return FINISHED_TASK_STATES.includes(state);
}

/** A shard state that no worker will move on by itself. */
export function isShardSettled(state: ShardState): boolean {
  return state === 'COMPLETED' || state === 'FAILED' || state === 'STOPPED';
}

/** Shards of one task counted by state. */
export type ShardTally = Record<ShardState, number>;

export const emptyTally = (): ShardTally => ({
  PENDING: 0,
  RUNNING: 0,
  PAUSED: 0,
  RETRYING: 0,
  COMPLETED: 0,
  FAILED: 0,
  STOPPED: 0,
});

export function tallyOf(states: Iterable<ShardState>): ShardTally {
  const t = emptyTally();
  for (const s of states) t[s] += 1;
  return t;
}

/** What the task's shards say its state should be. */
export interface TaskOutlook {
  /** The task's state as stored. */
  state: TaskState;
  /** A stop asked of the whole task: once nothing runs, it ends STOPPED. */
  stopRequested: boolean;
  /** A pause asked of the whole task (a task still getting shards pauses only then). */
  pauseRequested?: boolean;
  /** Its shards exist (planning is over) and none will be added (imports in parts: committed). */
  sealed: boolean;
  tally: ShardTally;
}

/**
 * The event the shards call for, or `undefined` when the task's state is right as it is:
 * - every shard settled: COMPLETED when all completed; STOPPED when the task was stopped or only
 *   stopped shards remain; FAILED when none completed; PARTIALLY_COMPLETED for a mix;
 * - some shards unsettled, none of them running or queued (all PAUSED): the task is PAUSED;
 * - a PAUSED task with a shard queued or running again: RUNNING.
 */
export function taskEventFromShards(o: TaskOutlook): TaskEvent | undefined {
  if (isTaskFinished(o.state)) return undefined;
  const t = o.tally;
  const total = SHARD_STATES.reduce((n, s) => n + t[s], 0);
  const active = t.PENDING + t.RUNNING + t.RETRYING;
  const open = active + t.PAUSED;
  // A task that may still get shards (being planned, or an import taking parts) never ends by
  // its shards; it pauses once none of those it has runs and a pause was asked.
  if (!o.sealed)
    return o.pauseRequested && o.state === 'RUNNING' && active === 0 && t.PAUSED > 0 ? 'pause' : undefined;
  let event: TaskEvent | undefined;
  if (open === 0) {
    if (o.stopRequested || (t.STOPPED > 0 && t.COMPLETED + t.FAILED === 0)) event = 'stop';
    else if (t.COMPLETED === total) event = 'complete';
    else if (t.COMPLETED === 0) event = 'fail';
    else event = 'completePartially';
  } else if (active === 0) {
    event = 'pause';
  } else if (o.state === 'PAUSED' || o.state === 'CREATED') {
    event = 'start';
  }
  return event && nextTaskState(o.state, event) !== undefined ? event : undefined;
}
