import {
  conflict,
  HttpError,
  inTransaction,
  newId,
  notFound,
  ProblemList,
  queueDepth,
  topology,
} from '@collect/common';
import { controlTask, isTaskFinished, settleTask } from '@collect/core';
import type { PoolConnection } from 'mysql2/promise';
import type { TaskRow } from '../adapters/task-store.mysql';
import { type ImportChunkMessage, isTaskId } from '../schemas';
import type { ChunkDeps } from './chunk-deps';
import { failLostShards } from './lost-shards';
import { fail, type ImportPlan, planIncremental } from './plan-import';
import {
  IMPORT_TASK_KIND,
  type ImportDeps,
  importLimits,
  publishShards,
  shardMessages,
  shardsOf,
  takeSource,
} from './submit-import';

/*
 * A FULL import too large for one request (API Gateway and Lambda cap a request at 10 MB / 6 MB)
 * arrives in parts: open → parts (parent-first) → commit. Each part is validated against the
 * earlier ones (import_node) and its shards are queued at once, so writing overlaps uploading
 * and no process ever holds the whole tree. The task settles only after the commit.
 */

type PartsDeps = ImportDeps & ChunkDeps;

export async function openImport(
  deps: PartsDeps,
  tenantId: string,
  source: string,
): Promise<{ taskId: string }> {
  const taskId = newId();
  const version = await inTransaction(deps.db, async (conn) => {
    const v = await takeSource(deps, conn, tenantId, source, taskId);
    await deps.tasks.create(conn, {
      id: taskId,
      tenantId,
      kind: IMPORT_TASK_KIND,
      source,
      mode: 'FULL',
      treeVersion: v,
      totalNodes: 0,
      params: { parts: true },
      shards: [],
      sealed: false,
    });
    return v;
  });
  await deps.events.record({
    taskId,
    level: 'info',
    message: 'import in parts opened',
    data: { source, version },
  });
  return { taskId };
}

/** The task of an import in parts that still takes parts, locked; 404 / 409 otherwise. */
async function openTask(
  deps: PartsDeps,
  conn: PoolConnection,
  tenantId: string,
  taskId: string,
): Promise<TaskRow> {
  const task = isTaskId(taskId) ? await deps.tasks.get(taskId, conn, true) : undefined;
  if (!task || task.tenantId !== tenantId || task.kind !== IMPORT_TASK_KIND)
    throw notFound(`import "${taskId}"`);
  if (isTaskFinished(task.state))
    throw conflict(`import "${taskId}" is ${task.state}: it takes no more parts and cannot be committed`, {
      state: task.state,
    });
  if (task.sealed)
    throw conflict(
      `import "${taskId}" ${task.requested === 'STOP' ? 'is stopping' : 'was committed'}: it takes no more parts`,
      { state: task.state, requested: task.requested, committed: task.requested !== 'STOP' },
    );
  return task;
}

export async function addPart(
  deps: PartsDeps,
  tenantId: string,
  taskId: string,
  nodes: unknown[],
): Promise<{ taskId: string; nodes: number; shards: number[] }> {
  if (!isTaskId(taskId)) throw notFound(`import "${taskId}"`);
  await failLostShards(deps, taskId);
  await waitForQueueRoom(deps);
  let plan: ImportPlan | undefined;
  // The task row lock serialises the parts of one import: ids and positions stay consistent.
  const messages = await inTransaction(deps.db, async (conn): Promise<ImportChunkMessage[]> => {
    const task = await openTask(deps, conn, tenantId, taskId);
    plan = await planIncremental(
      { upserts: nodes, deletes: [] },
      importLimits(deps.config),
      deps.staging.lookup(conn, taskId),
      { field: 'nodes', rejectKnown: true },
    );
    await deps.staging.add(conn, taskId, plan.upserts);
    const base = {
      taskId,
      tenantId,
      source: task.source,
      mode: 'FULL' as const,
      version: task.treeVersion ?? 0,
    };
    const msgs = shardMessages(base, task.totalShards, plan, deps.config.IMPORT_CHUNK_SIZE);
    await deps.tasks.appendShards(conn, task, shardsOf(msgs), plan.upserts.length);
    return msgs;
  }).catch(async (err) => {
    // An id sent in an earlier part: the staging key refused it and the transaction rolled back.
    if (plan && (err as { code?: string }).code === 'ER_DUP_ENTRY')
      await rejectRepeatedIds(deps, taskId, plan);
    throw err;
  });
  await publishShards(deps, taskId, messages);
  return {
    taskId,
    nodes: messages.reduce((n, m) => n + m.upserts.length, 0),
    shards: messages.map((m) => m.shardNo),
  };
}

/** Lists, as a 400, every node of a part whose id an earlier part already sent. */
async function rejectRepeatedIds(deps: PartsDeps, taskId: string, plan: ImportPlan): Promise<never> {
  const earlier = await deps.staging.lookup(deps.db, taskId).findByIds(plan.upserts.map((n) => n.id));
  const problems = new ProblemList();
  for (const n of plan.upserts) {
    if (earlier.has(n.id)) {
      problems.add(
        plan.origin?.get(n.id) ?? 'nodes',
        `"${n.id}" was already received in an earlier part (if that part's request failed, this import cannot be completed: open a new one)`,
        'duplicate_id',
      );
    }
  }
  return fail(problems);
}

/**
 * Backpressure: while more than IMPORT_MAX_QUEUED_SHARDS shard messages wait for workers, a part
 * waits (bounded by IMPORT_QUEUE_WAIT_MS) and then answers 429, before anything is written. The
 * client sends at the speed the workers write, and the broker never buffers a whole tree.
 */
async function waitForQueueRoom(deps: PartsDeps): Promise<void> {
  const { IMPORT_MAX_QUEUED_SHARDS: max, IMPORT_QUEUE_WAIT_MS: waitMs, AMQP_PREFIX } = deps.config;
  const queue = topology(AMQP_PREFIX).queue('import-chunk');
  const deadline = Date.now() + waitMs;
  for (let pause = 50; ; pause = Math.min(pause * 2, 500)) {
    const depth = await queueDepth(await deps.channel(), queue);
    if (depth <= max) return;
    if (Date.now() + pause > deadline) {
      throw new HttpError(
        429,
        'BUSY',
        `${depth} shards are waiting for workers; send this part again later`,
        { queuedShards: depth },
        { retryAfterSeconds: 5 },
      );
    }
    await new Promise((r) => setTimeout(r, pause));
  }
}

/**
 * No more parts: the task settles once its shards have (at once if they already did). A commit
 * sent again (its answer lost) answers the same success, whatever became of the task since.
 */
export async function commitImport(
  deps: PartsDeps,
  tenantId: string,
  taskId: string,
): Promise<{ taskId: string; totalShards: number }> {
  if (isTaskId(taskId)) await failLostShards(deps, taskId);
  const { task, again } = await inTransaction(deps.db, async (conn) => {
    const known = isTaskId(taskId) ? await deps.tasks.get(taskId, conn, true) : undefined;
    if (known?.committedAt && known.tenantId === tenantId && known.kind === IMPORT_TASK_KIND)
      return { task: known, again: true };
    const t = await openTask(deps, conn, tenantId, taskId);
    await deps.tasks.seal(conn, taskId);
    return { task: t, again: false };
  });
  if (again) return { taskId, totalShards: task.totalShards };
  await deps.events.record({
    taskId,
    level: 'info',
    message: `import committed with ${task.totalShards} shard(s)`,
  });
  await settleTask(deps.engine, taskId);
  return { taskId, totalShards: task.totalShards };
}

/**
 * DELETE /api/testcase/imports/{id}: cancels an open import at once: what its parts wrote is
 * discarded (never published), its source is free for the next import, and it is stopped. A
 * shard in the middle of its page writes nothing more (the run no longer holds its source) and
 * stops; until it has, the task answers RUNNING with `requested: STOP`. A committed import is
 * stopped with POST /api/tasks/{id}/stop instead (409 says so). Cancelling again answers the
 * same.
 */
export async function cancelImport(
  deps: PartsDeps,
  tenantId: string,
  taskId: string,
  reason = 'cancelled by the client',
): Promise<{ taskId: string; state: string; requested?: string; cancelled: true }> {
  const task = isTaskId(taskId) ? await deps.tasks.get(taskId) : undefined;
  if (!task || task.tenantId !== tenantId || task.kind !== IMPORT_TASK_KIND)
    throw notFound(`import "${taskId}"`);
  const finished = isTaskFinished(task.state);
  if (task.committedAt && !finished)
    throw conflict(`import "${taskId}" was committed: stop it with POST /api/tasks/${taskId}/stop`, {
      state: task.state,
      committed: true,
    });
  if (finished && (task.committedAt || task.state !== 'STOPPED'))
    throw conflict(`import "${taskId}" is ${task.state}: there is nothing to cancel`, {
      state: task.state,
      committed: task.committedAt !== null,
    });
  // Asked once: a cancel sent again while a shard finishes its page only answers again.
  if (!finished && task.requested !== 'STOP') await controlTask(deps.engine, taskId, 'stop');
  await inTransaction(deps.db, async (conn) => {
    await deps.trees.discardVersion(conn, task.tenantId, task.source, task.treeVersion ?? 0);
    await deps.trees.endImport(conn, task.tenantId, task.source, taskId);
    await conn.query('UPDATE collect_task SET last_error = COALESCE(last_error, ?) WHERE id = ?', [
      reason,
      taskId,
    ]);
  });
  await deps.staging.clear(taskId);
  await deps.events.record({ taskId, level: 'warn', type: 'import.cancelled', message: `import ${reason}` });
  const now = await deps.tasks.get(taskId);
  return {
    taskId,
    state: now?.state ?? task.state,
    ...(now && !isTaskFinished(now.state) ? { requested: 'STOP' } : {}),
    cancelled: true,
  };
}

/**
 * The every-minute sweep: an open import with no part and no progress for
 * IMPORT_STALE_SECONDS expires, as if cancelled, and frees its source. Returns their ids.
 */
export async function expireIdleImports(deps: PartsDeps): Promise<string[]> {
  const seconds = deps.config.IMPORT_STALE_SECONDS;
  const expired: string[] = [];
  for (const t of await deps.tasks.idleOpenImports(IMPORT_TASK_KIND, seconds)) {
    await cancelImport(deps, t.tenantId, t.id, `expired: no part for ${seconds} s`).then(
      () => expired.push(t.id),
      () => undefined, // committed or ended meanwhile
    );
  }
  return expired;
}
