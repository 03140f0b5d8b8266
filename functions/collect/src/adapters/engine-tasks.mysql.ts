import { inTransaction, jsonColumn } from '@collect/common';
import {
  type ControlRequest,
  type Dispatch,
  emptyTally,
  isTaskFinished,
  nextShardState,
  nextTaskState,
  resolveStrategy,
  type Shard,
  type ShardDecision,
  type ShardPatch,
  type ShardQueue,
  type ShardState,
  type ShardTally,
  type StalledShard,
  type Task,
  type TaskDecision,
  type TaskPatch,
  type TaskRepository,
  type TaskView,
  tallyOf,
} from '@collect/core';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';

const iso = (v: Date | null | undefined): string | null => (v ? v.toISOString() : null);

export const PUSH_COLLECTOR = 'push-import';

export function toTask(r: RowDataPacket): Task {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    collector: r.collector ?? PUSH_COLLECTOR,
    collectorVersion: r.collector_version ?? null,
    jobId: r.job_id ?? null,
    source: r.source,
    mode: r.mode,
    state: r.state,
    requested: r.requested ?? null,
    settings: jsonColumn(r.settings),
    range: jsonColumn(r.range_json) as Task['range'],
    strategy: resolveStrategy((jsonColumn(r.strategy) ?? {}) as never),
    sealed: r.sealed === 1,
    since: iso(r.since),
    startedReadingAt: iso(r.started_reading_at),
    lastError: r.last_error ?? null,
  };
}

const SHARD_COLUMNS = `task_id, shard_no, state, requested, epoch, gen, attempts, spec, cursor_json, pages,
  done_nodes, failed_nodes, last_error, payload IS NOT NULL AS has_payload`;

export function toShard(r: RowDataPacket): Shard {
  return {
    taskId: r.task_id,
    shardNo: r.shard_no,
    state: r.state,
    requested: r.requested ?? null,
    epoch: r.epoch,
    gen: r.gen,
    attempts: r.attempts,
    spec: jsonColumn(r.spec),
    cursor: jsonColumn(r.cursor_json),
    pages: r.pages,
    records: r.done_nodes,
    failedRecords: r.failed_nodes,
    lastError: r.last_error ?? null,
    keptPayload: Number(r.has_payload ?? 0) === 1,
  };
}

/**
 * Locks a shard inside a page's unit: its pending control while `epoch` still owns it RUNNING,
 * else `undefined` (a newer claim owns it, or it was settled: the page must not be written).
 */
export async function lockOwnedShard(
  conn: PoolConnection,
  taskId: string,
  shard: { shardNo: number; epoch: number },
): Promise<{ requested: ControlRequest | null } | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT state, epoch, requested FROM collect_shard WHERE task_id = ? AND shard_no = ? FOR UPDATE',
    [taskId, shard.shardNo],
  );
  const row = rows[0];
  if (row?.state !== 'RUNNING' || row.epoch !== shard.epoch) return undefined;
  return { requested: row.requested ?? null };
}

/**
 * A page's checkpoint, inside its unit (after `lockOwnedShard`): counters added, the cursor moved
 * (push shards have none: `cursor` undefined), the last error cleared (the page succeeded), and
 * when it was the last page, COMPLETED with any control and kept page dropped.
 */
export async function checkpointShard(
  conn: PoolConnection,
  taskId: string,
  shardNo: number,
  c: { cursor?: unknown; done: boolean; pages: number; records: number; failed: number; changed: number },
): Promise<void> {
  const completed = nextShardState('RUNNING', 'complete');
  await conn.query(
    `UPDATE collect_shard SET ${c.cursor === undefined ? '' : 'cursor_json = ?,'} pages = pages + ?,
            done_nodes = done_nodes + ?, failed_nodes = failed_nodes + ?, changed_nodes = changed_nodes + ?,
            state = IF(?, ?, state), requested = IF(?, NULL, requested), payload = IF(?, NULL, payload),
            last_error = NULL
      WHERE task_id = ? AND shard_no = ?`,
    [
      ...(c.cursor === undefined ? [] : [c.cursor === null ? null : JSON.stringify(c.cursor)]),
      c.pages,
      c.records,
      c.failed,
      c.changed,
      c.done,
      completed,
      c.done,
      c.done,
      taskId,
      shardNo,
    ],
  );
}

/** Takes a finished task's source again inside the unit (a retry); throws when it cannot. */
export type RetakeSource = (conn: PoolConnection, task: Task) => Promise<void>;

/**
 * The engine's task repository on MySQL. Every unit is one transaction that locks the task row
 * before shard rows (the one lock order, so units never deadlock each other), validates every
 * state change against the core's tables, and publishes its messages before committing: a
 * publish that fails rolls the unit back, and a process that dies before the commit leaves
 * messages that find nothing to run (their generation or state is not the shard's).
 */
export class MysqlTaskRepository implements TaskRepository {
  constructor(
    private readonly db: Pool,
    private readonly queue: ShardQueue,
    private readonly retake: RetakeSource,
  ) {}

  async getTask(taskId: string): Promise<Task | undefined> {
    const [rows] = await this.db.query<RowDataPacket[]>('SELECT * FROM collect_task WHERE id = ?', [taskId]);
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  async getShard(taskId: string, shardNo: number): Promise<Shard | undefined> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT ${SHARD_COLUMNS} FROM collect_shard WHERE task_id = ? AND shard_no = ?`,
      [taskId, shardNo],
    );
    return rows[0] ? toShard(rows[0]) : undefined;
  }

  async getShards(taskId: string): Promise<Shard[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT ${SHARD_COLUMNS} FROM collect_shard WHERE task_id = ? ORDER BY shard_no`,
      [taskId],
    );
    return rows.map(toShard);
  }

  async tally(taskId: string, conn: Pool | PoolConnection = this.db): Promise<ShardTally> {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT state, COUNT(*) AS n FROM collect_shard WHERE task_id = ? GROUP BY state',
      [taskId],
    );
    const t = emptyTally();
    for (const r of rows) t[r.state as ShardState] = Number(r.n);
    return t;
  }

  async stalledShards(olderThanMs: number, limit: number): Promise<StalledShard[]> {
    // MariaDB's clock on both sides: updated_at is its CURRENT_TIMESTAMP at the last change.
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT task_id, shard_no, epoch, gen, pages FROM collect_shard
        WHERE state = 'RUNNING' AND updated_at < NOW(3) - INTERVAL ? MICROSECOND
        ORDER BY updated_at LIMIT ?`,
      [Math.max(0, Math.round(olderThanMs * 1000)), limit],
    );
    return rows.map((r) => ({
      taskId: String(r.task_id),
      shardNo: Number(r.shard_no),
      epoch: Number(r.epoch),
      gen: Number(r.gen),
      pages: Number(r.pages),
    }));
  }

  withShard<T>(
    taskId: string,
    shardNo: number,
    decide: (v: import('@collect/core').ShardView) => ShardDecision<T>,
  ): Promise<T | undefined> {
    return inTransaction(this.db, async (conn) => {
      // Locking reads only: they see the latest committed rows (a plain read would fix an older
      // snapshot, and two claims could each count the other's shard as not running).
      const [trows] = await conn.query<RowDataPacket[]>(
        'SELECT * FROM collect_task WHERE id = ? FOR UPDATE',
        [taskId],
      );
      const trow = trows[0];
      if (!trow) return undefined;
      const [srows] = await conn.query<RowDataPacket[]>(
        `SELECT ${SHARD_COLUMNS} FROM collect_shard WHERE task_id = ? AND shard_no = ? FOR UPDATE`,
        [taskId, shardNo],
      );
      const srow = srows[0];
      if (!srow) return undefined;
      let runningOthers = 0;
      // Sound because the task row is locked: claims of its shards take turns.
      if (Number(trow.concurrency) > 0) {
        const [c] = await conn.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM collect_shard WHERE task_id = ? AND state = 'RUNNING' AND shard_no <> ? LOCK IN SHARE MODE",
          [taskId, shardNo],
        );
        runningOthers = Number(c[0]?.n ?? 0);
      }
      const task = toTask(trow);
      const shard = toShard(srow);
      const d = decide({ task, shard, hasPayload: srow.has_payload === 1, runningOthers });
      if (d.patch) await this.patchShard(conn, shard, d.patch);
      if (d.taskEvent) {
        const next = nextTaskState(task.state, d.taskEvent);
        if (next) await this.setTaskState(conn, taskId, task.state, next);
      }
      await this.dispatch(conn, d.dispatch);
      return d.result;
    });
  }

  withTask<T>(
    taskId: string,
    decide: (v: TaskView) => TaskDecision<T>,
    opts: { withShards?: boolean } = {},
  ): Promise<T | undefined> {
    return inTransaction(this.db, async (conn) => {
      const [trows] = await conn.query<RowDataPacket[]>(
        'SELECT * FROM collect_task WHERE id = ? FOR UPDATE',
        [taskId],
      );
      if (!trows[0]) return undefined;
      const task = toTask(trows[0]);
      let shards: Shard[] = [];
      let tally: ShardTally;
      if (opts.withShards) {
        const [srows] = await conn.query<RowDataPacket[]>(
          `SELECT ${SHARD_COLUMNS} FROM collect_shard WHERE task_id = ? ORDER BY shard_no FOR UPDATE`,
          [taskId],
        );
        shards = srows.map(toShard);
        tally = tallyOf(shards.map((s) => s.state));
      } else tally = await this.tally(taskId, conn);
      const d = decide({ task, shards, tally });
      if (d.task) await this.patchTask(conn, task, d.task);
      const byNo = new Map(shards.map((s) => [s.shardNo, s]));
      for (const change of d.shards ?? []) {
        const { shardNo, ...patch } = change;
        const current = byNo.get(shardNo) ?? (await this.getShardIn(conn, taskId, shardNo));
        if (!current) throw new Error(`task ${taskId} has no shard ${shardNo}`);
        await this.patchShard(conn, current, patch);
      }
      if (d.newShards && d.newShards.length > 0) {
        for (let i = 0; i < d.newShards.length; i += 500) {
          const rows = d.newShards
            .slice(i, i + 500)
            .map((n) => [taskId, n.shardNo, 'pull', n.state, JSON.stringify(n.spec ?? null)]);
          await conn.query('INSERT INTO collect_shard (task_id, shard_no, kind, state, spec) VALUES ?', [
            rows,
          ]);
        }
        await conn.query('UPDATE collect_task SET total_shards = total_shards + ? WHERE id = ?', [
          d.newShards.length,
          taskId,
        ]);
      }
      await this.dispatch(conn, d.dispatch);
      if (d.plan) await this.queue.publishPlan(d.plan.message, d.plan.delayMs);
      return d.result;
    });
  }

  private async getShardIn(
    conn: PoolConnection,
    taskId: string,
    shardNo: number,
  ): Promise<Shard | undefined> {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT ${SHARD_COLUMNS} FROM collect_shard WHERE task_id = ? AND shard_no = ? FOR UPDATE`,
      [taskId, shardNo],
    );
    return rows[0] ? toShard(rows[0]) : undefined;
  }

  private async setTaskState(conn: PoolConnection, id: string, from: string, to: string): Promise<void> {
    await conn.query(
      `UPDATE collect_task SET state = ?,
              started_at = IF(? = 'RUNNING', COALESCE(started_at, CURRENT_TIMESTAMP(3)), started_at),
              finished_at = IF(?, CURRENT_TIMESTAMP(3), NULL)
        WHERE id = ? AND state = ?`,
      [to, to, isTaskFinished(to as never), id, from],
    );
  }

  private async patchTask(conn: PoolConnection, task: Task, p: TaskPatch): Promise<void> {
    if (p.retakeSource) await this.retake(conn, task);
    if (p.event) {
      const next = nextTaskState(task.state, p.event);
      if (!next) throw new Error(`task ${task.id}: ${p.event} is illegal in ${task.state}`);
      await this.setTaskState(conn, task.id, task.state, next);
    }
    const sets: string[] = [];
    const args: unknown[] = [];
    const set = (sql: string, v: unknown) => {
      sets.push(sql);
      args.push(v);
    };
    if (p.requested !== undefined) set('requested = ?', p.requested);
    if (p.lastError !== undefined) set('last_error = ?', p.lastError);
    if (p.sealed !== undefined) set('sealed = ?', p.sealed ? 1 : 0);
    if (p.startedReadingAt !== undefined) set('started_reading_at = ?', new Date(p.startedReadingAt));
    if (p.retry !== undefined) set('strategy = ?', JSON.stringify({ ...task.strategy, retry: p.retry }));
    if (sets.length > 0)
      await conn.query(`UPDATE collect_task SET ${sets.join(', ')} WHERE id = ?`, [...args, task.id]);
  }

  private async patchShard(conn: PoolConnection, shard: Shard, p: ShardPatch): Promise<void> {
    const sets: string[] = [];
    const args: unknown[] = [];
    const set = (sql: string, v: unknown) => {
      sets.push(sql);
      args.push(v);
    };
    if (p.event) {
      const next = nextShardState(shard.state, p.event);
      if (!next)
        throw new Error(`shard ${shard.taskId}/${shard.shardNo}: ${p.event} is illegal in ${shard.state}`);
      set('state = ?', next);
    }
    if (p.requested !== undefined) set('requested = ?', p.requested);
    if (p.epoch !== undefined) set('epoch = ?', p.epoch);
    if (p.gen !== undefined) set('gen = ?', p.gen);
    if (p.attempts !== undefined) set('attempts = ?', p.attempts);
    if (p.cursor !== undefined) set('cursor_json = ?', p.cursor === null ? null : JSON.stringify(p.cursor));
    if (p.pages !== undefined) set('pages = ?', p.pages);
    if (p.records !== undefined) set('done_nodes = ?', p.records);
    if (p.failedRecords !== undefined) set('failed_nodes = ?', p.failedRecords);
    if (p.lastError !== undefined) set('last_error = ?', p.lastError);
    if (p.payload !== undefined)
      set('payload = ?', p.payload === null ? null : Buffer.from(JSON.stringify(p.payload)));
    if (sets.length === 0) return;
    await conn.query(`UPDATE collect_shard SET ${sets.join(', ')} WHERE task_id = ? AND shard_no = ?`, [
      ...args,
      shard.taskId,
      shard.shardNo,
    ]);
  }

  /** Publishes inside the unit; push shards get the payload they kept. */
  private async dispatch(conn: PoolConnection, dispatches: Dispatch[] | undefined): Promise<void> {
    if (!dispatches || dispatches.length === 0) return;
    const out: Dispatch[] = [];
    for (const d of dispatches) {
      if (!d.withStoredPayload) {
        out.push(d);
        continue;
      }
      const { withStoredPayload: _, ...rest } = d;
      const [rows] = await conn.query<RowDataPacket[]>(
        'SELECT payload FROM collect_shard WHERE task_id = ? AND shard_no = ? AND payload IS NOT NULL',
        [d.message.taskId, d.message.shardNo],
      );
      const payload = rows[0]?.payload as Buffer | undefined;
      out.push(
        payload
          ? { ...rest, message: { ...rest.message, inline: JSON.parse(payload.toString('utf8')) } }
          : rest,
      );
    }
    await this.queue.publish(out);
  }
}
