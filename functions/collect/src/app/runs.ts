import {
  badRequest,
  conflict,
  cursorPosition,
  HttpError,
  inTransaction,
  jsonColumn,
  maskSecrets,
  newId,
  nextCursor,
  notFound,
  type Problem,
  ProblemList,
} from '@collect/common';
import {
  adapts,
  type ControlAction,
  type ControlResult,
  controlShard,
  controlTask,
  EngineError,
  type RetryOptions,
  resolveStrategy,
  shardIdOf,
  shardNoOf,
} from '@collect/core';
import type { RowDataPacket } from 'mysql2/promise';
import { z } from 'zod';
import { toShard, toTask } from '../adapters/engine-tasks.mysql';
import type { Services } from '../composition';
import { flowKeysOf } from '../flow-keys';
import { isTaskId, nodeIdSchema, sourceSchema, strategySchema } from '../schemas';
import { readTask } from './read-task';
import { takeSource } from './submit-import';

export const RUN_TASK_KIND = 'collect';

const isoInstant = z.iso.datetime({ offset: true });
const uuidSchema = z.string().refine(isTaskId, 'must be a lower-case UUID');

const triggerKeySchema = z.string().regex(/^[\x21-\x7e]{1,200}$/, 'must be 1–200 visible ASCII characters');

export const startRunSchema = z.strictObject({
  collector: z.string().min(1).max(64),
  source: sourceSchema,
  mode: z.enum(['FULL', 'INCREMENTAL', 'RANGE']),
  settings: z.custom<unknown>((v) => v !== undefined, { message: "required: the collector's settings" }),
  range: z
    .union([
      z.strictObject({ rootId: nodeIdSchema }),
      z.strictObject({ updatedAfter: isoInstant, updatedBefore: isoInstant.optional() }),
    ])
    .optional(),
  strategy: strategySchema.optional(),
  /** The collector version to run (the register picks it); this service runs one of each. */
  collectorVersion: z.string().max(32).optional(),
  /** Where the run comes from, when the register starts it (kept with the task, shown, filtered on). */
  origin: z
    .strictObject({
      jobId: uuidSchema,
      jobVersion: z.number().int().positive(),
      chainId: uuidSchema,
      trigger: z.discriminatedUnion('kind', [
        z.strictObject({ kind: z.literal('manual') }),
        z.strictObject({ kind: z.literal('schedule'), scheduleId: uuidSchema, fireTime: isoInstant }),
        z.strictObject({ kind: z.literal('upstream'), taskId: uuidSchema }),
      ]),
      /** What makes it one run: a start with the same key answers the task the first one started. */
      triggerKey: triggerKeySchema.optional(),
    })
    .optional(),
});
export type StartRun = z.infer<typeof startRunSchema>;

/** Every problem of a start request at once (envelope, collector, settings, range, strategy). */
function validate(s: Services, body: unknown): StartRun {
  const problems = new ProblemList();
  const parsed = startRunSchema.safeParse(body);
  if (!parsed.success) problems.addZod('', parsed.error);
  const raw = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const type = typeof raw.collector === 'string' ? raw.collector : undefined;
  const version = typeof raw.collectorVersion === 'string' ? raw.collectorVersion : undefined;
  const collector = type === undefined ? undefined : s.collectors.get(type, version);
  if (type !== undefined && s.collectors.versionsOf(type).length === 0)
    problems.add(
      'collector',
      `unknown collector "${type}"; known: ${s.collectors.types().join(', ')}`,
      'unknown_collector',
    );
  else if (type !== undefined && !collector)
    problems.add(
      'collectorVersion',
      `this service runs versions ${s.collectors.versionsOf(type).join(', ')} of "${type}", not ${version}`,
      'unknown_version',
    );
  // Missing settings are reported once, by the envelope; present ones are the collector's to judge.
  if (collector && raw.settings !== undefined) {
    const settings = collector.settings.safeParse(raw.settings);
    if (!settings.success)
      for (const i of settings.error.issues)
        problems.add(['settings', ...i.path.map(String)].join('.'), i.message, i.code ?? 'invalid_settings');
  }
  if (raw.mode === 'RANGE' && raw.range === undefined)
    problems.add(
      'range',
      'a RANGE run needs a range: { rootId } or { updatedAfter, updatedBefore? }',
      'missing_range',
    );
  if (raw.mode !== undefined && raw.mode !== 'RANGE' && raw.range !== undefined)
    problems.add('range', 'only a RANGE run takes a range', 'unexpected_range');
  const range = raw.range as { updatedAfter?: string; updatedBefore?: string } | undefined;
  if (
    range?.updatedAfter &&
    range.updatedBefore &&
    Date.parse(range.updatedBefore) <= Date.parse(range.updatedAfter)
  )
    problems.add('range.updatedBefore', 'must be after updatedAfter', 'invalid_range');
  const retry = (raw.strategy as { retry?: { baseDelayMs?: number; maxDelayMs?: number } } | undefined)
    ?.retry;
  if (
    typeof retry?.baseDelayMs === 'number' &&
    typeof retry.maxDelayMs === 'number' &&
    retry.maxDelayMs < retry.baseDelayMs
  )
    problems.add('strategy.retry.maxDelayMs', 'must be at least baseDelayMs', 'invalid_strategy');
  if (problems.total > 0 || !parsed.success)
    throw badRequest(`the run has ${problems.total} problem(s)`, problems.items);
  return parsed.data;
}

/**
 * Starts a run: checks everything, then in one transaction takes the source (one run per
 * source at a time: 409 naming the running task), records the task and queues its plan message
 * (the transaction commits only once RabbitMQ confirmed it). Nothing is written on a 400.
 */
export async function startRun(
  s: Services,
  tenantId: string,
  body: unknown,
  opts: {
    idempotencyKey?: string | undefined;
    /** A signed call of another service (the register): only it may say where a run comes from. */
    internal?: boolean;
  } = {},
): Promise<StartedRun> {
  const { idempotencyKey } = opts;
  if (idempotencyKey !== undefined && !triggerKeySchema.safeParse(`api:${idempotencyKey}`).success)
    throw badRequest('the Idempotency-Key header is not valid', [
      {
        path: 'header.idempotency-key',
        message: 'must be 1–196 visible ASCII characters',
        code: 'invalid_key',
      },
    ]);
  if (!opts.internal && typeof body === 'object' && body !== null && 'origin' in body)
    throw badRequest('the run has 1 problem(s)', [
      {
        path: 'origin',
        message: "is set only by the platform's register (a signed call)",
        code: 'internal_only',
      },
    ]);
  const run = validate(s, body);
  const key = run.origin?.triggerKey ?? (idempotencyKey === undefined ? null : `api:${idempotencyKey}`);
  // Straight to the start (the common case has no earlier task): a key seen before fails it on
  // the unique key or the source it holds, and that earlier task is the answer.
  try {
    return await createRun(s, tenantId, run, key);
  } catch (err) {
    const earlier = key ? await taskOfKey(s, tenantId, key) : undefined;
    if (earlier) return earlier;
    throw err;
  }
}

/** A started run: its task and the collector version that runs it (the earlier task's, on a replay). */
export interface StartedRun {
  taskId: string;
  collectorVersion: string | null;
}

async function taskOfKey(s: Services, tenantId: string, key: string): Promise<StartedRun | undefined> {
  const [rows] = await s.db.query<RowDataPacket[]>(
    'SELECT id, collector_version FROM collect_task WHERE tenant_id = ? AND trigger_key = ?',
    [tenantId, key],
  );
  return rows[0] ? { taskId: rows[0].id, collectorVersion: rows[0].collector_version ?? null } : undefined;
}

async function createRun(
  s: Services,
  tenantId: string,
  run: StartRun,
  key: string | null,
): Promise<StartedRun> {
  const taskId = newId();
  const collectorVersion = s.collectors.get(run.collector, run.collectorVersion)?.version ?? null;
  const strategy = resolveStrategy(run.strategy ?? {});
  await inTransaction(s.db, async (conn) => {
    const version = await takeSource(s, conn, tenantId, run.source, taskId);
    let since: Date | null = null;
    if (run.mode === 'INCREMENTAL') {
      const [rows] = await conn.query<RowDataPacket[]>(
        'SELECT watermark FROM collect_watermark WHERE tenant_id = ? AND source = ? AND collector = ? AND job_id = ?',
        [tenantId, run.source, run.collector, run.origin?.jobId ?? ''],
      );
      const mark = rows[0]?.watermark as Date | undefined;
      if (mark) since = new Date(mark.getTime() - s.config.WATERMARK_OVERLAP_SECONDS * 1000);
    }
    await conn.query(
      `INSERT INTO collect_task (id, tenant_id, kind, collector, source, mode, state, sealed, tree_version,
                                 settings, range_json, strategy, concurrency, since, params,
                                 collector_version, job_id, job_version, chain_id, trigger_json, trigger_key)
       VALUES (?, ?, ?, ?, ?, ?, 'CREATED', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        taskId,
        tenantId,
        RUN_TASK_KIND,
        run.collector,
        run.source,
        run.mode,
        version,
        JSON.stringify(run.settings),
        run.range ? JSON.stringify(run.range) : null,
        JSON.stringify(strategy),
        strategy.concurrency,
        since,
        JSON.stringify({}),
        collectorVersion,
        run.origin?.jobId ?? null,
        run.origin?.jobVersion ?? null,
        run.origin?.chainId ?? null,
        run.origin ? JSON.stringify(run.origin.trigger) : null,
        key,
      ],
    );
    await s.engine.queue.publishPlan({ taskId, attempt: 0 });
  });
  await s.events.record({
    taskId,
    level: 'info',
    type: 'task.created',
    message: `${run.mode} run of "${run.source}" by ${run.collector} created`,
    data: { collector: run.collector, mode: run.mode, source: run.source },
  });
  return { taskId, collectorVersion };
}

async function ownedTaskRow(s: Services, tenantId: string, id: string): Promise<RowDataPacket> {
  if (!isTaskId(id)) throw notFound(`task "${id}"`);
  const [rows] = await s.db.query<RowDataPacket[]>('SELECT * FROM collect_task WHERE id = ?', [id]);
  const row = rows[0];
  if (!row || row.tenant_id !== tenantId) throw notFound(`task "${id}"`);
  return row;
}

/** A task with its progress and every shard (imports keep their own view, with the same core fields). */
export async function viewTask(s: Services, tenantId: string, id: string): Promise<Record<string, unknown>> {
  const row = await ownedTaskRow(s, tenantId, id);
  if (row.kind !== RUN_TASK_KIND)
    return {
      ...((await readTask(s, tenantId, id)) as Record<string, unknown>),
      collector: 'push-import',
    } as Record<string, unknown>;
  const task = toTask(row);
  const [shardRows] = await s.db.query<RowDataPacket[]>(
    `SELECT task_id, shard_no, state, requested, epoch, gen, attempts, spec, cursor_json, pages, done_nodes,
            failed_nodes, last_error, payload IS NOT NULL AS has_payload FROM collect_shard WHERE task_id = ? ORDER BY shard_no`,
    [id],
  );
  const shards = shardRows.map(toShard);
  const byState: Record<string, number> = {};
  for (const sh of shards) byState[sh.state] = (byState[sh.state] ?? 0) + 1;
  const settled = shards.filter((sh) => ['COMPLETED', 'FAILED', 'STOPPED'].includes(sh.state)).length;
  return {
    id: task.id,
    kind: row.kind,
    collector: task.collector,
    source: task.source,
    mode: task.mode,
    state: task.state,
    requested: task.requested,
    range: task.range,
    strategy: task.strategy,
    settings: maskSecrets(
      task.settings,
      s.collectors.get(task.collector, task.collectorVersion)?.secrets ?? [],
    ),
    treeVersion: row.tree_version === null ? null : Number(row.tree_version),
    since: task.since,
    planned: task.sealed,
    collectorVersion: row.collector_version ?? null,
    origin: originOf(row),
    // The breakers of its source hosts (OPEN: its shards park until a probe succeeds).
    breakers: await Promise.all(
      flowKeysOf(task)
        .filter(adapts)
        .map((k) => s.breakers.view(k)),
    ),
    progress: {
      shards: shards.length,
      shardsByState: byState,
      pages: shards.reduce((n, sh) => n + sh.pages, 0),
      records: shards.reduce((n, sh) => n + sh.records, 0),
      failedRecords: shards.reduce((n, sh) => n + sh.failedRecords, 0),
      deletedNodes: row.deleted_nodes,
      percent: !task.sealed ? 0 : shards.length === 0 ? 100 : Math.floor((settled * 100) / shards.length),
    },
    shards: shards.map((sh) => ({
      shardId: shardIdOf(sh.shardNo),
      state: sh.state,
      requested: sh.requested,
      cursor: sh.cursor,
      attempts: sh.attempts,
      epoch: sh.epoch,
      pages: sh.pages,
      records: sh.records,
      failedRecords: sh.failedRecords,
      lastError: sh.lastError,
    })),
    lastError: task.lastError,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    statusUrl: `/api/tasks/${id}`,
    logsUrl: `/api/tasks/${id}/logs`,
  };
}

export const listQuerySchema = z.strictObject({
  source: sourceSchema.optional(),
  state: z
    .enum(['CREATED', 'RUNNING', 'PAUSED', 'COMPLETED', 'PARTIALLY_COMPLETED', 'FAILED', 'STOPPED'])
    .optional(),
  jobId: uuidSchema.optional(),
  chainId: uuidSchema.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

/** Where a run came from (its job, version, chain and trigger), when the register started it. */
function originOf(r: RowDataPacket) {
  if (!r.job_id) return null;
  return {
    jobId: r.job_id,
    jobVersion: r.job_version,
    chainId: r.chain_id,
    trigger: jsonColumn(r.trigger_json),
  };
}

/** Tasks of a tenant, newest first, paged by an opaque cursor. */
export async function listTasks(s: Services, tenantId: string, q: z.infer<typeof listQuerySchema>) {
  const where = ['tenant_id = ?'];
  const args: unknown[] = [tenantId];
  if (q.source) {
    where.push('source = ?');
    args.push(q.source);
  }
  if (q.state) {
    where.push('state = ?');
    args.push(q.state);
  }
  for (const [column, value] of [
    ['job_id', q.jobId],
    ['chain_id', q.chainId],
  ] as const)
    if (value) {
      where.push(`${column} = ?`);
      args.push(value);
    }
  const after = cursorPosition(q.cursor, 'query.cursor');
  if (after) {
    where.push('(created_at < ? OR (created_at = ? AND id < ?))');
    args.push(after.createdAt, after.createdAt, after.id);
  }
  const [rows] = await s.db.query<RowDataPacket[]>(
    `SELECT id, kind, collector, source, mode, state, requested, created_at, started_at, finished_at, last_error,
            collector_version, job_id, job_version, chain_id, trigger_json
       FROM collect_task WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`,
    [...args, q.limit + 1],
  );
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      id: r.id,
      kind: r.kind,
      collector: r.collector ?? 'push-import',
      source: r.source,
      mode: r.mode,
      state: r.state,
      requested: r.requested ?? null,
      lastError: r.last_error ?? null,
      collectorVersion: r.collector_version ?? null,
      origin: originOf(r),
      createdAt: r.created_at,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      statusUrl: `/api/tasks/${r.id}`,
    })),
    nextCursor: nextCursor(
      last && { createdAt: last.created_at as Date, id: last.id },
      rows.length > q.limit,
    ),
  };
}

/** Engine errors as API answers. */
function asHttp(err: unknown): never {
  if (err instanceof EngineError) {
    if (err.code === 'NOT_FOUND') throw new HttpError(404, 'NOT_FOUND', err.message);
    if (err.code === 'SOURCE_BUSY') throw conflict(err.message, err.details);
    throw new HttpError(409, 'ILLEGAL_TRANSITION', err.message, err.details);
  }
  throw err;
}

/** Every task of the tenant is controlled through the engine, imports included. */
async function controllable(s: Services, tenantId: string, id: string): Promise<void> {
  await ownedTaskRow(s, tenantId, id);
}

export const retryBodySchema = z.strictObject({
  scope: z.enum(['FAILED', 'ALL', 'SHARDS']).default('FAILED'),
  shardIds: z.array(z.string().max(20)).max(1000).optional(),
});

/** The seed's RetryStrategy: retries FAILED shards with this policy. */
export const seedRetrySchema = z.strictObject({
  maxRetries: z.number().int().min(1).max(100),
  retryInterval: z.number().int().min(0).max(3_600_000),
  exponentialBackoff: z.boolean().default(true),
  scope: z.enum(['FAILED', 'ALL']).optional(),
});

export function retryOptions(body: z.infer<typeof retryBodySchema>): RetryOptions {
  if (body.scope !== 'SHARDS') {
    if (body.shardIds?.length)
      throw badRequest('shardIds only go with scope SHARDS', [
        { path: 'shardIds', message: 'only with scope SHARDS' },
      ]);
    return { scope: body.scope };
  }
  const problems: Problem[] = [];
  if (!body.shardIds || body.shardIds.length === 0)
    problems.push({ path: 'shardIds', message: 'scope SHARDS needs shardIds' });
  const shardNos = (body.shardIds ?? []).map((id, i) => {
    const n = shardNoOf(id);
    if (n === undefined)
      problems.push({ path: `shardIds[${i}]`, message: `"${id}" is not a shard id (s0, s1, …)` });
    return n ?? -1;
  });
  if (problems.length > 0) throw badRequest(`the retry has ${problems.length} problem(s)`, problems);
  return { scope: 'SHARDS', shardNos };
}

export async function controlRun(
  s: Services,
  tenantId: string,
  id: string,
  action: ControlAction,
  opts: RetryOptions = {},
): Promise<ControlResult> {
  await controllable(s, tenantId, id);
  return controlTask(s.engine, id, action, opts).catch(asHttp);
}

export async function controlRunShard(
  s: Services,
  tenantId: string,
  id: string,
  shardId: string,
  action: ControlAction,
): Promise<ControlResult> {
  await controllable(s, tenantId, id);
  const shardNo = shardNoOf(shardId);
  if (shardNo === undefined) throw notFound(`shard "${shardId}"`);
  return controlShard(s.engine, id, shardNo, action).catch(asHttp);
}

export const logsQuerySchema = z.strictObject({
  shardId: z.string().max(20).optional(),
  after: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export async function taskLogs(
  s: Services,
  tenantId: string,
  id: string,
  q: z.infer<typeof logsQuerySchema>,
) {
  await ownedTaskRow(s, tenantId, id);
  const shardNo = q.shardId === undefined ? undefined : shardNoOf(q.shardId);
  if (q.shardId !== undefined && shardNo === undefined) throw notFound(`shard "${q.shardId}"`);
  const events = await s.events.list(id, {
    ...(shardNo !== undefined ? { shardNo } : {}),
    ...(q.after ? { after: q.after } : {}),
    limit: q.limit + 1,
  });
  const page = events.slice(0, q.limit);
  return {
    items: page.map(({ shardNo: no, ...e }) => ({
      ...e,
      ...(no !== undefined ? { shardId: shardIdOf(no) } : {}),
    })),
    nextCursor: events.length > q.limit ? (page.at(-1)?.id ?? null) : null,
  };
}
