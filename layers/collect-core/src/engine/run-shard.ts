import { adapts } from '../flow-adapt';
import type { ControlRequest, Shard, ShardMessage, Task } from '../model';
import type { Dispatch, FlowRefusal, ShardDecision, ShardView } from '../ports';
import { CollectError, decideRetry } from '../retry-policy';
import { redact, secretValues } from '../secrets';
import { isShardSettled, isTaskFinished } from '../states';
import { controlShard } from './control';
import { type EngineDeps, EngineError } from './deps';
import { failTask, settleTask } from './settle';

export type RunOutcome =
  | 'completed'
  | 'paused'
  | 'stopped'
  | 'released'
  | 'retrying'
  | 'failed'
  | 'task-failed'
  | 'skipped'
  | 'deferred'
  | 'busy'
  | 'stale';

export interface RunOptions {
  /** Epoch ms after which no new page starts: the shard hands itself over to a new message. */
  deadline: number;
}

/** A message this early is put back in the queue rather than run. */
const EARLY_TOLERANCE_MS = 100;
/** How long a shard waits when its task already runs `concurrency` shards (plus jitter). */
export const CONCURRENCY_WAIT_MS = 500;
/** How long a running shard's flow slot lasts unless renewed (at every page): a dead worker's expires. */
export const FLOW_LEASE_MS = 120_000;
/** How long a shard waits for a flow slot before it asks again (plus jitter). */
export const FLOW_WAIT_MS = 1000;

type Claim =
  | { kind: 'run'; task: Task; shard: Shard }
  | { kind: 'skip'; reason: string; settle?: boolean }
  | { kind: 'parked'; request: ControlRequest; task: Task }
  | { kind: 'busy'; task: Task };

/** Keeps a push shard's page when the shard leaves the queue without it being applied. */
export const keepPayload = (v: ShardView, msg: ShardMessage) =>
  msg.inline !== undefined && !v.hasPayload ? { payload: msg.inline } : {};

function decideClaim(v: ShardView, msg: ShardMessage): ShardDecision<Claim> {
  const { task, shard } = v;
  if (msg.gen < shard.gen)
    return { result: { kind: 'skip', reason: 'a newer message was queued for the shard' } };
  if (isTaskFinished(task.state)) return { result: { kind: 'skip', reason: `the task is ${task.state}` } };
  if (shard.state === 'PAUSED')
    return { result: { kind: 'skip', reason: 'the shard is paused' }, patch: keepPayload(v, msg) };
  // A replay after a crash between the shard's last commit and its task's settle: settle now.
  if (isShardSettled(shard.state))
    return { result: { kind: 'skip', reason: `the shard is ${shard.state}`, settle: true } };
  if (shard.state === 'RUNNING' && shard.requested) {
    // Its previous worker died before honouring a control: honour it now, without fetching.
    const request = shard.requested;
    return {
      result: { kind: 'parked', request, task },
      patch: {
        event: request === 'PAUSE' ? 'park' : 'halt',
        requested: null,
        ...(request === 'PAUSE' ? keepPayload(v, msg) : {}),
      },
    };
  }
  const limit = task.strategy.concurrency;
  if (limit > 0 && shard.state !== 'RUNNING' && v.runningOthers >= limit)
    return { result: { kind: 'busy', task } };
  const epoch = shard.epoch + 1;
  const gen = Math.max(shard.gen, msg.gen);
  return {
    result: { kind: 'run', task, shard: { ...shard, state: 'RUNNING', epoch, gen } },
    patch: { event: 'claim', epoch, gen },
    ...(task.state === 'CREATED' || task.state === 'PAUSED' ? { taskEvent: 'start' as const } : {}),
  };
}

/**
 * Runs a shard for one delivery (DESIGN §3): claim (new epoch) → for each page: control check →
 * flow token → fetch → map → prepare (documents) → commit (records + checkpoint, fenced) →
 * committed (caches) → next page, until the shard is done, a control is honoured at a page
 * boundary, the time budget is spent (a continuation is queued) or a failure is handled
 * (retry through a delay queue, or fail). Store outages are rethrown (`unavailable`): the
 * consumer waits them out or hands the message back; every step is safe to replay.
 */
export async function runShard<R>(
  deps: EngineDeps<R>,
  msg: ShardMessage,
  opts: RunOptions,
): Promise<RunOutcome> {
  const known = await deps.tasks.getTask(msg.taskId);
  if (!known) return 'skipped';
  const collector = deps.collectorOf(known);
  const early = (msg.notBefore ?? 0) - deps.clock.now();
  if (early > EARLY_TOLERANCE_MS) {
    await deps.queue.publish([{ route: collector.route, message: msg, delayMs: early }]);
    return 'deferred';
  }
  // Read before the claim: a control asked after the claim changes it.
  let token = await deps.flags.token(msg.taskId);
  const claim = await deps.tasks.withShard(msg.taskId, msg.shardNo, (v) => decideClaim(v, msg));
  if (!claim || claim.kind === 'skip') {
    if (claim)
      // At-least-once delivery made visible: a duplicate or outdated message did nothing.
      await deps.events.record({
        taskId: msg.taskId,
        shardNo: msg.shardNo,
        level: 'info',
        type: 'shard.skipped',
        message: `message skipped: ${claim.reason}`,
        data: { gen: msg.gen },
      });
    if (claim?.settle) await settleTask(deps, msg.taskId);
    return 'skipped';
  }
  if (claim.kind === 'parked') {
    // The slots its dead worker held are free now, not when their leases run out.
    const keys = deps.flowKeys?.(claim.task) ?? [];
    if (deps.flow && keys.length > 0)
      await deps.flow.leave(keys, `${msg.taskId}#${msg.shardNo}`).catch(() => undefined);
    await recordControl(deps, msg, claim.request);
    await settleTask(deps, msg.taskId);
    return claim.request === 'PAUSE' ? 'paused' : 'stopped';
  }
  if (claim.kind === 'busy') {
    const delayMs = CONCURRENCY_WAIT_MS + Math.floor((deps.random ?? Math.random)() * CONCURRENCY_WAIT_MS);
    await deps.queue.publish([{ route: collector.route, message: msg, delayMs }]);
    return 'busy';
  }
  const { task } = claim;
  let shard = claim.shard;
  const route = collector.route;
  const settings = collector.settings.safeParse(task.settings);
  if (!settings.success) {
    await failTask(deps, task.id, `the task's settings no longer fit collector ${collector.type}`);
    return 'task-failed';
  }
  const ctx = {
    task,
    settings: settings.data,
    strategy: task.strategy,
    spec: shard.spec,
    shardNo: shard.shardNo,
    ...(msg.inline !== undefined ? { inline: msg.inline } : {}),
  };
  await deps.events.record({
    taskId: task.id,
    shardNo: shard.shardNo,
    level: 'info',
    type: 'shard.claimed',
    message: `shard claimed (epoch ${shard.epoch})`,
    data: { epoch: shard.epoch, cursor: shard.cursor ?? null },
  });

  const keys = deps.flow || deps.breakers ? (deps.flowKeys?.(task) ?? []) : [];
  const flowKeys = deps.flow ? keys : [];
  // The source hosts among the keys each have a breaker.
  const breakerKeys = deps.breakers ? keys.filter(adapts) : [];
  const holder = `${task.id}#${shard.shardNo}`;

  /** Moves the claimed shard by one unit of work, only while this claim owns it. */
  const own = <T>(decide: (v: ShardView) => ShardDecision<T> | undefined) =>
    deps.tasks.withShard(task.id, shard.shardNo, (v) =>
      v.shard.epoch === shard.epoch && v.shard.state === 'RUNNING'
        ? (decide(v) ?? { result: undefined as T | undefined })
        : { result: undefined as T | undefined },
    );

  /** Parks or stops at a page boundary; `continue` when the control was withdrawn meanwhile. */
  const honour = async (): Promise<RunOutcome | 'continue'> => {
    const request = await own<ControlRequest | 'continue'>((v) => {
      const r = v.shard.requested;
      if (!r) return { result: 'continue' };
      return {
        result: r,
        patch: {
          event: r === 'PAUSE' ? 'park' : 'halt',
          requested: null,
          ...(r === 'PAUSE' ? keepPayload(v, msg) : {}),
        },
      };
    });
    if (request === undefined) return 'stale';
    if (request === 'continue') return 'continue';
    await recordControl(deps, msg, request);
    await settleTask(deps, task.id);
    return request === 'PAUSE' ? 'paused' : 'stopped';
  };

  /** Stops the shard at once (the store refused its page: the run may no longer write). */
  const halt = async (): Promise<RunOutcome> => {
    const stopped = await own<true>(() => ({ result: true, patch: { event: 'halt', requested: null } }));
    if (stopped === undefined) return 'stale';
    await recordControl(deps, msg, 'STOP');
    await settleTask(deps, task.id);
    return 'stopped';
  };

  /**
   * Hands the shard back to its queue in a new message (after `delayMs`), only while this claim
   * owns it, and records why; no attempt is spent.
   */
  const handBack = async (
    delayMs: number,
    entry: { type: string; message: string; data?: Record<string, unknown> },
    outcome: RunOutcome,
  ): Promise<RunOutcome> => {
    const gen = shard.gen + 1;
    const next: Dispatch = {
      route,
      // A push shard's page travels in its message: the new message must carry it on.
      message: {
        taskId: task.id,
        shardNo: shard.shardNo,
        gen,
        ...(msg.inline !== undefined ? { inline: msg.inline } : {}),
      },
      ...(delayMs > 0 ? { delayMs } : {}),
    };
    const ok = await own(
      (): ShardDecision<boolean> => ({ result: true, patch: { event: 'release', gen }, dispatch: [next] }),
    );
    if (!ok) return 'stale';
    await deps.events.record({ taskId: task.id, shardNo: shard.shardNo, level: 'info', ...entry });
    return outcome;
  };

  /** The time budget is spent: a continuation picks the shard up at once. */
  const release = () =>
    handBack(
      0,
      { type: 'shard.released', message: 'time budget spent: continuing in a new invocation' },
      'released',
    );

  /**
   * No slot under a flow key (taken, or the limit was lowered under this shard): the shard goes
   * back to its queue after its page, to ask again later.
   */
  const yieldSlot = (refusal: FlowRefusal) =>
    handBack(
      FLOW_WAIT_MS + Math.floor((deps.random ?? Math.random)() * FLOW_WAIT_MS),
      {
        type: 'shard.flow-wait',
        message: `waiting for a slot under ${refusal.key} (concurrency ${refusal.limit})`,
        data: { ...refusal },
      },
      'busy',
    );

  /** The host's breaker is open: the shard parks (no attempt spent) until its probe succeeds. */
  const parkOnBreaker = async (key: string): Promise<RunOutcome> => {
    const reason = `${BREAKER_OPEN}: ${key} keeps failing; the shard resumes by itself when a probe succeeds`;
    const ok = await own(
      (): ShardDecision<boolean> => ({ result: true, patch: { event: 'park', lastError: reason } }),
    );
    if (!ok) return 'stale';
    await deps.events.record({
      taskId: task.id,
      shardNo: shard.shardNo,
      level: 'warn',
      type: 'shard.breaker-open',
      message: reason,
      data: { key },
    });
    // Closed between the check and the park: nobody would resume it, so it resumes now.
    if (deps.breakers && (await deps.breakers.park(key, holder))) await resumeParked(deps, holder);
    await settleTask(deps, task.id);
    return 'paused';
  };

  try {
    return await pages();
  } finally {
    if (deps.flow && flowKeys.length > 0) await deps.flow.leave(flowKeys, holder).catch(() => undefined);
  }

  async function pages(): Promise<RunOutcome> {
    for (let page = 0; ; page += 1) {
      if (deps.flow && flowKeys.length > 0) {
        // Taken before the first page, kept (and renewed) at every page after.
        const refusal = await deps.flow.enter(flowKeys, holder, deps.flowLeaseMs ?? FLOW_LEASE_MS);
        if (refusal) return yieldSlot(refusal);
      }
      if (page > 0) {
        const now = await deps.flags.token(task.id);
        if (now === undefined || now !== token) {
          token = now;
          const fresh = await deps.tasks.getShard(task.id, shard.shardNo);
          if (!fresh || fresh.epoch !== shard.epoch || fresh.state !== 'RUNNING') return 'stale';
          if (fresh.requested) {
            const r = await honour();
            if (r !== 'continue') return r;
          }
        }
        if (deps.clock.now() >= opts.deadline) return release();
      }
      try {
        while (deps.flow && flowKeys.length > 0) {
          const wait = await deps.flow.reserve(flowKeys);
          if (wait <= 0) break;
          if (deps.clock.now() + wait >= opts.deadline) return release();
          await deps.clock.sleep(wait);
        }
        while (task.strategy.ratePerSecond > 0) {
          const wait = await deps.limiter.reserve(`task/${task.id}`, task.strategy.ratePerSecond);
          if (wait <= 0) break;
          if (deps.clock.now() + wait >= opts.deadline) return release();
          await deps.clock.sleep(wait);
        }
        if (deps.breakers)
          for (const key of breakerKeys)
            if ((await deps.breakers.admit(key, holder)) === 'park') return parkOnBreaker(key);
        const fetched = await collector.fetchPage(ctx, (shard.cursor ?? null) as never);
        const records = collector.map(fetched.items, ctx);
        await deps.pages.prepare(task, records);
        const done = fetched.next === null;
        const out = await deps.pages.commit(task, { shardNo: shard.shardNo, epoch: shard.epoch }, records, {
          cursor: fetched.next,
          done,
          pages: 1,
          records: records.length,
          failedRecords: fetched.rejected ?? 0,
        });
        if (!out.owned) return 'stale';
        if ('halted' in out) return halt();
        await deps.pages.committed(task);
        if (deps.flow && flowKeys.length > 0) await deps.flow.adapt(flowKeys, 'ok');
        if (deps.breakers)
          for (const key of breakerKeys)
            for (const parked of await deps.breakers.succeeded(key)) await resumeParked(deps, parked);
        const refused = out.refused ?? [];
        const rejected = (fetched.rejected ?? 0) + refused.length;
        const reasons = [...(fetched.reasons ?? []), ...refused];
        shard = {
          ...shard,
          cursor: fetched.next,
          pages: shard.pages + 1,
          records: shard.records + records.length - refused.length,
          failedRecords: shard.failedRecords + rejected,
        };
        await deps.events.record({
          taskId: task.id,
          shardNo: shard.shardNo,
          level: 'info',
          type: 'shard.page',
          message: `page ${shard.pages} done: ${records.length - refused.length} record(s)`,
          data: {
            page: shard.pages,
            records: records.length - refused.length,
            rejected,
            ...(reasons.length ? { reasons: reasons.slice(0, 10) } : {}),
            totalRecords: shard.records,
          },
        });
        if (done) {
          await deps.events.record({
            taskId: task.id,
            shardNo: shard.shardNo,
            level: 'info',
            type: 'shard.completed',
            message: `shard completed: ${shard.pages} page(s), ${shard.records} record(s)`,
          });
          await settleTask(deps, task.id);
          return 'completed';
        }
        if (out.requested) {
          const r = await honour();
          if (r !== 'continue') return r;
        }
      } catch (err) {
        // The source pushed back: its host's rate comes down for every worker.
        if (deps.flow && flowKeys.length > 0 && pushedBack(err))
          await deps.flow.adapt(flowKeys, 'slow-down').catch(() => undefined);
        // The source failed: its breaker counts it; the failure that opens it makes this shard
        // its probe, back after the cool-down without spending an attempt.
        if (deps.breakers && breakerKeys.length > 0 && deps.classify(err).kind === 'retryable') {
          let coolDown: number | undefined;
          for (const key of breakerKeys) coolDown = (await deps.breakers.failed(key, holder)) ?? coolDown;
          if (coolDown !== undefined)
            return handleFailure(
              deps,
              task,
              shard,
              msg,
              route,
              new CollectError('rate-limited', `${BREAKER_OPEN}: ${(err as Error).message ?? String(err)}`, {
                retryAfterMs: coolDown,
              }),
            );
        }
        return handleFailure(deps, task, shard, msg, route, err);
      }
    }
  }
}

/** What a shard parked by an open breaker says (its lastError starts with it). */
export const BREAKER_OPEN = 'BREAKER_OPEN';

/**
 * Resumes a shard a breaker parked (`taskId#shardNo`), unless it is no longer parked by it (a
 * user stopped or resumed it) or its task was asked to pause.
 */
async function resumeParked<R>(deps: EngineDeps<R>, holder: string): Promise<void> {
  const at = holder.lastIndexOf('#');
  const taskId = holder.slice(0, at);
  const shardNo = Number(holder.slice(at + 1));
  const [task, shard] = [await deps.tasks.getTask(taskId), await deps.tasks.getShard(taskId, shardNo)];
  if (
    !task ||
    task.requested === 'PAUSE' ||
    shard?.state !== 'PAUSED' ||
    !shard.lastError?.startsWith(BREAKER_OPEN)
  )
    return;
  await controlShard(deps, taskId, shardNo, 'resume').catch((err) => {
    if (!(err instanceof EngineError)) throw err;
  });
}

/** A source's answer asking us to slow down: 429, or 503 (overloaded). */
const pushedBack = (err: unknown): boolean =>
  err instanceof CollectError && (err.kind === 'rate-limited' || err.status === 429 || err.status === 503);

async function recordControl<R>(
  deps: EngineDeps<R>,
  msg: ShardMessage,
  request: ControlRequest,
): Promise<void> {
  await deps.events.record({
    taskId: msg.taskId,
    shardNo: msg.shardNo,
    level: 'info',
    type: request === 'PAUSE' ? 'shard.paused' : 'shard.stopped',
    message: request === 'PAUSE' ? 'shard paused at a page boundary' : 'shard stopped at a page boundary',
  });
}

/** A failed page: retried later through a delay queue, or the shard (or the task) fails. */
async function handleFailure<R>(
  deps: EngineDeps<R>,
  task: Task,
  shard: Shard,
  msg: ShardMessage,
  route: string,
  err: unknown,
): Promise<RunOutcome> {
  const classified = deps.classify(err);
  if (classified.kind === 'unavailable') throw err;
  // What is stored and shown never carries a secret setting, whatever the source echoed.
  const failure = {
    ...classified,
    message: redact(classified.message, secretValues(deps.collectorOf(task), task.settings)),
  };
  // Attempts are read under the lock: another claim may have counted some since ours.
  const outcome = await deps.tasks.withShard(task.id, shard.shardNo, (v): ShardDecision<RunOutcome> => {
    if (v.shard.epoch !== shard.epoch || v.shard.state !== 'RUNNING') return { result: 'stale' };
    const d = decideRetry(task.strategy.retry, v.shard.attempts, failure, deps.random);
    if (d.action === 'retry') {
      const gen = v.shard.gen + 1;
      const message: ShardMessage = {
        taskId: task.id,
        shardNo: shard.shardNo,
        gen,
        notBefore: deps.clock.now() + d.delayMs,
        ...(msg.inline !== undefined ? { inline: msg.inline } : {}),
      };
      return {
        result: 'retrying',
        patch: { event: 'retryLater', attempts: d.attempts, lastError: failure.message, gen },
        dispatch: [{ route, message, delayMs: d.delayMs }],
      };
    }
    return {
      result: d.action === 'fail-task' ? 'task-failed' : 'failed',
      patch: { event: 'fail', attempts: d.attempts, lastError: failure.message, ...keepPayload(v, msg) },
    };
  });
  if (outcome === undefined || outcome === 'stale') return 'stale';
  await deps.events.record({
    taskId: task.id,
    shardNo: shard.shardNo,
    level: outcome === 'retrying' ? 'warn' : 'error',
    type: outcome === 'retrying' ? 'shard.retry' : 'shard.failed',
    message:
      outcome === 'retrying'
        ? `page failed (${failure.kind}): ${failure.message}; retry scheduled`
        : `shard failed: ${failure.message}`,
    data: {
      kind: failure.kind,
      ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
    },
  });
  if (outcome === 'task-failed') await failTask(deps, task.id, failure.message);
  else if (outcome === 'failed') await settleTask(deps, task.id);
  return outcome;
}
