import { type ControlRequest, type RetryPolicy, type Shard, shardIdOf, type Task } from '../model';
import type { Dispatch, ShardPatch, TaskDecision, TaskPatch, TaskView } from '../ports';
import { isTaskFinished, nextShardState, type ShardEvent, type ShardState, type TaskState } from '../states';
import { type EngineDeps, EngineError } from './deps';
import { settleTask } from './settle';

export type ControlAction = 'pause' | 'resume' | 'stop' | 'retry';
export const CONTROL_ACTIONS: readonly ControlAction[] = ['pause', 'resume', 'stop', 'retry'];
export type RetryScope = 'FAILED' | 'ALL' | 'SHARDS';

export interface RetryOptions {
  scope?: RetryScope;
  shardNos?: number[];
  /** Replaces the task's retry policy for what follows (the seed's RetryStrategy). */
  policy?: RetryPolicy;
}

export interface ControlResult {
  taskId: string;
  /** The task's state once the control is applied (a pause or stop of a running shard is asked, not yet done). */
  state: TaskState;
  requested: ControlRequest | null;
  /** Shards the control changed or asked something of. */
  shards: { shardId: string; state: ShardState; requested: ControlRequest | null }[];
}

type Change = ShardPatch & { shardNo: number };

interface Plan {
  task?: TaskPatch;
  changes: Change[];
  dispatch: Dispatch[];
  plan?: boolean;
}

const illegal = (what: string, task: Task, extra: Record<string, unknown> = {}): never => {
  throw new EngineError('ILLEGAL_TRANSITION', what, {
    state: task.state,
    requested: task.requested,
    ...extra,
  });
};

/** A shard queued again: new generation, one message (push shards carry their kept page). */
function requeue(
  task: Task,
  s: Shard,
  event: ShardEvent,
  route: string,
  extra: ShardPatch = {},
): [Change, Dispatch] {
  const gen = s.gen + 1;
  return [
    { shardNo: s.shardNo, event, gen, ...extra },
    { route, message: { taskId: task.id, shardNo: s.shardNo, gen }, withStoredPayload: true },
  ];
}

function pausePlan(v: TaskView, only?: Shard): Plan {
  const { task } = v;
  if (isTaskFinished(task.state)) illegal(`the task is ${task.state}`, task);
  const changes: Change[] = [];
  for (const s of only ? [only] : v.shards) {
    if (s.state === 'PENDING' || s.state === 'RETRYING') changes.push({ shardNo: s.shardNo, event: 'pause' });
    else if (s.state === 'RUNNING' && !s.requested) changes.push({ shardNo: s.shardNo, requested: 'PAUSE' });
    else if (only)
      illegal(
        `shard ${shardIdOf(s.shardNo)} is ${s.state}${s.requested ? ` (${s.requested} asked)` : ''}`,
        task,
        { shardState: s.state },
      );
  }
  if (only) return { changes, dispatch: [] };
  if (task.state === 'PAUSED' || task.requested)
    illegal(`the task is ${task.state}${task.requested ? ` (${task.requested} asked)` : ''}`, task);
  // A task not planned yet stops here; one being planned gets its shards PAUSED.
  const unplanned = !task.sealed && task.state === 'CREATED';
  return { task: unplanned ? { event: 'pause' } : { requested: 'PAUSE' }, changes, dispatch: [] };
}

/** Where a task's shards are queued, and whether their messages carry their page (push). */
interface Target {
  route: string;
  push: boolean;
}

function resumePlan(v: TaskView, { route, push }: Target, only?: Shard): Plan {
  const { task } = v;
  if (isTaskFinished(task.state)) illegal(`the task is ${task.state}`, task);
  const changes: Change[] = [];
  const dispatch: Dispatch[] = [];
  for (const s of only ? [only] : v.shards) {
    if (s.state === 'PAUSED' && push && !s.keptPayload) {
      // A push shard paused while its message waited in a queue: that message (the only copy of
      // its page) is still coming, and runs it once the shard is pending again.
      changes.push({ shardNo: s.shardNo, event: 'resume' });
    } else if (s.state === 'PAUSED') {
      const [c, d] = requeue(task, s, 'resume', route);
      changes.push(c);
      dispatch.push(d);
    } else if (s.state === 'RUNNING' && s.requested === 'PAUSE')
      changes.push({ shardNo: s.shardNo, requested: null });
    else if (only) illegal(`shard ${shardIdOf(s.shardNo)} is ${s.state}`, task, { shardState: s.state });
  }
  // A pull task paused before it was planned is planned now; a push task is planned by its requests.
  const unplanned = !push && !task.sealed && task.state === 'PAUSED';
  if (!only && changes.length === 0 && task.state !== 'PAUSED' && task.requested !== 'PAUSE')
    illegal('nothing is paused', task);
  return {
    task: {
      ...(task.requested === 'PAUSE' ? { requested: null } : {}),
      ...(task.state === 'PAUSED' ? { event: 'resume' } : {}),
    },
    changes,
    dispatch,
    plan: unplanned,
  };
}

function stopPlan(v: TaskView, { push }: Target, only?: Shard): Plan {
  const { task } = v;
  if (isTaskFinished(task.state)) illegal(`the task is ${task.state}`, task);
  const changes: Change[] = [];
  for (const s of only ? [only] : v.shards) {
    if (nextShardState(s.state, 'stop')) changes.push({ shardNo: s.shardNo, event: 'stop' });
    else if (s.state === 'RUNNING' && s.requested !== 'STOP')
      changes.push({ shardNo: s.shardNo, requested: 'STOP' });
    else if (only) illegal(`shard ${shardIdOf(s.shardNo)} is ${s.state}`, task, { shardState: s.state });
  }
  if (only) return { changes, dispatch: [] };
  if (task.requested === 'STOP') illegal('the task is stopping', task);
  // No planner will run for a task not planned yet: it has its (no) shards. A push task (an
  // import taking parts) takes no more: it ends once the shards it has settle.
  const unplanned = !task.sealed && (push || task.state === 'CREATED' || task.state === 'PAUSED');
  return { task: { requested: 'STOP', ...(unplanned ? { sealed: true } : {}) }, changes, dispatch: [] };
}

function retryPlan(v: TaskView, { route, push }: Target, opts: RetryOptions, only?: Shard): Plan {
  const { task } = v;
  if (
    task.state === 'COMPLETED' ||
    task.state === 'STOPPED' ||
    task.state === 'CREATED' ||
    task.requested === 'STOP'
  )
    illegal(`the task is ${task.state}`, task);
  // A pull task that failed while it was being planned has no shards: it is planned again.
  if (!only && !push && !task.sealed && task.state === 'FAILED')
    return {
      task: {
        event: 'retry',
        retakeSource: true,
        lastError: null,
        ...(opts.policy ? { retry: opts.policy } : {}),
      },
      changes: [],
      dispatch: [],
      plan: true,
    };
  const scope = only ? 'SHARDS' : (opts.scope ?? 'FAILED');
  let chosen: Shard[];
  if (only) chosen = [only];
  else if (scope === 'SHARDS') {
    const wanted = new Set(opts.shardNos ?? []);
    chosen = v.shards.filter((s) => wanted.has(s.shardNo));
    const missing = [...wanted].filter((n) => !chosen.some((s) => s.shardNo === n));
    if (missing.length > 0)
      throw new EngineError('NOT_FOUND', `no shard ${missing.map(shardIdOf).join(', ')} in this task`);
  } else
    chosen = v.shards.filter((s) => s.state === 'FAILED' || (scope === 'ALL' && s.state === 'COMPLETED'));
  const blocked = chosen.filter((s) => s.state !== 'FAILED' && s.state !== 'COMPLETED');
  if (blocked.length > 0)
    illegal(
      `only FAILED or COMPLETED shards can be retried: ${blocked.map((s) => `${shardIdOf(s.shardNo)} is ${s.state}`).join(', ')}`,
      task,
      {
        shards: blocked.map((s) => ({ shardId: shardIdOf(s.shardNo), state: s.state })),
      },
    );
  // A push shard runs the page it keeps; an applied one keeps none (its chunk is in the tree).
  const applied = push ? chosen.filter((s) => s.state === 'COMPLETED') : [];
  if (applied.length > 0 && (only || scope === 'SHARDS'))
    illegal(
      `an import's applied chunks cannot run again: ${applied.map((s) => shardIdOf(s.shardNo)).join(', ')} COMPLETED (import again to change the tree)`,
      task,
      { shards: applied.map((s) => ({ shardId: shardIdOf(s.shardNo), state: s.state })) },
    );
  if (push) chosen = chosen.filter((s) => s.state !== 'COMPLETED');
  if (chosen.length === 0) illegal(scope === 'FAILED' ? 'no shard has failed' : 'no shard to retry', task);
  const changes: Change[] = [];
  const dispatch: Dispatch[] = [];
  for (const s of chosen) {
    // FAILED shards go on from their checkpoint; a run again from the start (ALL, or a completed
    // shard) starts over.
    const fromStart = scope === 'ALL' || s.state === 'COMPLETED';
    const reset: ShardPatch = fromStart
      ? { attempts: 0, lastError: null, cursor: null, pages: 0, records: 0, failedRecords: 0 }
      : { attempts: 0, lastError: null };
    const [c, d] = requeue(task, s, fromStart ? 'restart' : 'retry', route, reset);
    changes.push(c);
    dispatch.push(d);
  }
  const reopen = isTaskFinished(task.state);
  return {
    task: {
      ...(reopen ? { event: 'retry', retakeSource: true, lastError: null } : {}),
      ...(opts.policy ? { retry: opts.policy } : {}),
    },
    changes,
    dispatch,
  };
}

async function apply<R>(
  deps: EngineDeps<R>,
  taskId: string,
  action: ControlAction,
  build: (v: TaskView, target: Target) => Plan,
  shardNo?: number,
): Promise<ControlResult> {
  const out = await deps.tasks.withTask(
    taskId,
    (v): TaskDecision<Change[]> => {
      const c = deps.collectorOf(v.task);
      const p = build(v, { route: c.route, push: c.push === true });
      return {
        result: p.changes,
        ...(p.task ? { task: p.task } : {}),
        shards: p.changes,
        dispatch: p.dispatch,
        ...(p.plan ? { plan: { message: { taskId, attempt: 0 } } } : {}),
      };
    },
    { withShards: true },
  );
  if (out === undefined) throw new EngineError('NOT_FOUND', `task "${taskId}" not found`);
  await deps.flags.bump(taskId);
  await deps.events.record({
    taskId,
    ...(shardNo !== undefined ? { shardNo } : {}),
    level: 'info',
    type: `${shardNo !== undefined ? 'shard' : 'task'}.${action}`,
    message: `${action} asked${shardNo !== undefined ? ` of shard ${shardIdOf(shardNo)}` : ''}: ${out.length} shard(s) affected`,
  });
  await settleTask(deps, taskId);
  const task = await deps.tasks.getTask(taskId);
  const shards = await deps.tasks.getShards(taskId);
  const touched = new Set(out.map((c) => c.shardNo));
  return {
    taskId,
    state: task?.state ?? 'CREATED',
    requested: task?.requested ?? null,
    shards: shards
      .filter((s) => touched.has(s.shardNo))
      .map((s) => ({ shardId: shardIdOf(s.shardNo), state: s.state, requested: s.requested })),
  };
}

/**
 * Pause, resume, stop or retry a whole task (DESIGN §3). A pause or stop of a running shard is
 * asked of its worker, which honours it at its next page boundary; the others move at once.
 * Illegal controls throw `ILLEGAL_TRANSITION` with the current state.
 */
export function controlTask<R>(
  deps: EngineDeps<R>,
  taskId: string,
  action: ControlAction,
  opts: RetryOptions = {},
): Promise<ControlResult> {
  return apply(deps, taskId, action, (v, target) => {
    switch (action) {
      case 'pause':
        return pausePlan(v);
      case 'resume':
        return resumePlan(v, target);
      case 'stop':
        return stopPlan(v, target);
      case 'retry':
        return retryPlan(v, target, opts);
    }
  });
}

/** The same for one shard of a task. */
export function controlShard<R>(
  deps: EngineDeps<R>,
  taskId: string,
  shardNo: number,
  action: ControlAction,
): Promise<ControlResult> {
  return apply(
    deps,
    taskId,
    action,
    (v, target) => {
      const shard = v.shards.find((s) => s.shardNo === shardNo);
      if (!shard) throw new EngineError('NOT_FOUND', `no shard ${shardIdOf(shardNo)} in task "${taskId}"`);
      switch (action) {
        case 'pause':
          return pausePlan(v, shard);
        case 'resume': {
          const p = resumePlan(v, target, shard);
          // The task goes on with this shard; the task-wide pause no longer holds.
          return { ...p, task: { ...p.task, ...(v.task.requested === 'PAUSE' ? { requested: null } : {}) } };
        }
        case 'stop':
          return stopPlan(v, target, shard);
        case 'retry':
          return retryPlan(v, target, {}, shard);
      }
    },
    shardNo,
  );
}
