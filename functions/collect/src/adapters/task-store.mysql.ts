import { inTransaction } from '@collect/common';
import { isTaskFinished, type ShardState, type TaskState } from '@collect/core';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';

export interface NewTask {
  id: string;
  tenantId: string;
  kind: string;
  source: string;
  mode: string;
  treeVersion: number;
  totalNodes: number;
  params: unknown;
  shards: NewShard[];
  /** false: an import in parts, which more parts may still extend. */
  sealed?: boolean;
}

export interface NewShard {
  kind: 'upsert' | 'delete';
  nodeCount: number;
}

export interface TaskRow {
  id: string;
  tenantId: string;
  kind: string;
  source: string;
  mode: string;
  state: TaskState;
  /** No more shards will be added: the task may settle once they all have. */
  sealed: boolean;
  treeVersion: number | null;
  totalShards: number;
  doneShards: number;
  failedShards: number;
  totalNodes: number;
  doneNodes: number;
  failedNodes: number;
  changedNodes: number;
  deletedNodes: number;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface ShardRow {
  shardNo: number;
  kind: string;
  state: ShardState;
  attempts: number;
  epoch: number;
  nodeCount: number;
  doneNodes: number;
  failedNodes: number;
  changedNodes: number;
  lastError: string | null;
  /** When RabbitMQ confirmed its message (null: not confirmed yet). */
  queuedAt: Date | null;
  updatedAt: Date;
}

type Queryable = Pool | PoolConnection;

function toTask(r: RowDataPacket): TaskRow {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    kind: r.kind,
    source: r.source,
    mode: r.mode,
    state: r.state,
    sealed: r.sealed === 1,
    treeVersion: r.tree_version === null ? null : Number(r.tree_version),
    totalShards: r.total_shards,
    doneShards: r.done_shards,
    failedShards: r.failed_shards,
    totalNodes: r.total_nodes,
    doneNodes: r.done_nodes,
    failedNodes: r.failed_nodes,
    changedNodes: r.changed_nodes,
    deletedNodes: r.deleted_nodes,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/**
 * SQL: the import shard aliased `alias` is lost: recorded, never queued (RabbitMQ's confirm never
 * recorded, no worker ever claimed it) and older than the one `?` parameter, in seconds. Shards
 * of the engine (`pull`) are queued inside the unit that records them, so they are never lost.
 */
export const lostShard = (alias: string): string =>
  `${alias}.kind <> 'pull' AND ${alias}.state = 'PENDING' AND ${alias}.queued_at IS NULL AND ${alias}.created_at < NOW(3) - INTERVAL ? SECOND`;

/** Task and shard rows: MySQL is the truth for every state; shard writes are fenced by epoch. */
export class TaskStore {
  constructor(private readonly db: Pool) {}

  async create(conn: PoolConnection, t: NewTask): Promise<void> {
    await conn.query(
      `INSERT INTO collect_task (id, tenant_id, kind, source, mode, state, sealed, tree_version, total_shards, total_nodes, params)
       VALUES (?, ?, ?, ?, ?, 'CREATED', ?, ?, ?, ?, ?)`,
      [
        t.id,
        t.tenantId,
        t.kind,
        t.source,
        t.mode,
        t.sealed ?? true,
        t.treeVersion,
        t.shards.length,
        t.totalNodes,
        JSON.stringify(t.params),
      ],
    );
    await this.insertShards(conn, t.id, 0, t.shards);
  }

  private async insertShards(
    conn: PoolConnection,
    taskId: string,
    firstNo: number,
    shards: NewShard[],
  ): Promise<void> {
    for (let i = 0; i < shards.length; i += 1000) {
      const rows = shards
        .slice(i, i + 1000)
        .map((s, j) => [taskId, firstNo + i + j, s.kind, 'PENDING', s.nodeCount]);
      await conn.query('INSERT INTO collect_shard (task_id, shard_no, kind, state, node_count) VALUES ?', [
        rows,
      ]);
    }
  }

  /**
   * Adds shards to an unsealed task (the caller holds the task row lock) and returns the number
   * of the first one.
   */
  async appendShards(
    conn: PoolConnection,
    task: TaskRow,
    shards: NewShard[],
    nodes: number,
  ): Promise<number> {
    await this.insertShards(conn, task.id, task.totalShards, shards);
    await conn.query(
      'UPDATE collect_task SET total_shards = total_shards + ?, total_nodes = total_nodes + ? WHERE id = ?',
      [shards.length, nodes, task.id],
    );
    return task.totalShards;
  }

  async seal(conn: PoolConnection, taskId: string): Promise<void> {
    await conn.query('UPDATE collect_task SET sealed = 1 WHERE id = ?', [taskId]);
  }

  async get(id: string, conn: Queryable = this.db, forUpdate = false): Promise<TaskRow | undefined> {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT * FROM collect_task WHERE id = ?${forUpdate ? ' FOR UPDATE' : ''}`,
      [id],
    );
    const r = rows[0];
    return r ? toTask(r) : undefined;
  }

  /** RabbitMQ confirmed these shards' messages. */
  async markQueued(conn: PoolConnection, taskId: string, shardNos: number[]): Promise<void> {
    if (shardNos.length === 0) return;
    await conn.query(
      'UPDATE collect_shard SET queued_at = CURRENT_TIMESTAMP(3) WHERE task_id = ? AND shard_no IN (?) AND queued_at IS NULL',
      [taskId, shardNos],
    );
  }

  /**
   * Fails the shards of `taskId` that were recorded over `afterSeconds` ago and never queued:
   * their messages died with the API process that recorded them. Returns how many it failed.
   */
  async failLost(conn: PoolConnection, taskId: string, afterSeconds: number): Promise<number> {
    const error = `never queued: the API stopped before RabbitMQ confirmed this shard (within ${afterSeconds} s); import again`;
    return this.failShards(conn, taskId, lostShard('h'), [afterSeconds], error);
  }

  /** Ends a task FAILED with `error`, its unsettled shards with it (a newer import took its source). */
  async abandon(conn: PoolConnection, taskId: string, error: string): Promise<void> {
    await this.failShards(conn, taskId, "h.state IN ('PENDING', 'RUNNING', 'RETRYING')", [], error);
    await this.setState(taskId, 'FAILED', error, conn);
  }

  /** Fails the shards of `taskId` that match `condition` and recounts the task's failures. */
  private async failShards(
    conn: PoolConnection,
    taskId: string,
    condition: string,
    args: unknown[],
    error: string,
  ): Promise<number> {
    const [res] = await conn.query(
      `UPDATE collect_shard h SET h.state = 'FAILED', h.failed_nodes = h.node_count, h.last_error = ?
        WHERE h.task_id = ? AND ${condition}`,
      [error, taskId, ...args],
    );
    const failed = (res as { affectedRows: number }).affectedRows;
    if (failed === 0) return 0;
    // Every failure the task counts is a shard's, so its counters are the sums over its shards.
    await conn.query(
      `UPDATE collect_task t SET last_error = ?,
              failed_shards = (SELECT COUNT(*) FROM collect_shard h WHERE h.task_id = t.id AND h.state = 'FAILED'),
              failed_nodes = (SELECT COALESCE(SUM(h.failed_nodes), 0) FROM collect_shard h WHERE h.task_id = t.id)
        WHERE t.id = ?`,
      [error, taskId],
    );
    return failed;
  }

  /**
   * Every shard of a task, each with `lost`: recorded over `lostAfterSeconds` ago (by the
   * database's clock) and never queued (see failLost).
   */
  async shards(taskId: string, lostAfterSeconds = 0): Promise<(ShardRow & { lost: boolean })[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT s.*, (? > 0 AND ${lostShard('s')}) AS lost
         FROM collect_shard s WHERE s.task_id = ? ORDER BY s.shard_no`,
      [lostAfterSeconds, lostAfterSeconds, taskId],
    );
    return rows.map((r) => ({
      shardNo: r.shard_no,
      kind: r.kind,
      state: r.state,
      attempts: r.attempts,
      epoch: r.epoch,
      nodeCount: r.node_count,
      doneNodes: r.done_nodes,
      failedNodes: r.failed_nodes,
      changedNodes: r.changed_nodes,
      lastError: r.last_error,
      queuedAt: r.queued_at,
      updatedAt: r.updated_at,
      lost: Boolean(r.lost),
    }));
  }

  async setState(
    id: string,
    state: TaskState,
    lastError: string | null,
    conn: Queryable = this.db,
  ): Promise<void> {
    const terminal = isTaskFinished(state);
    await conn.query(
      `UPDATE collect_task SET state = ?, last_error = COALESCE(?, last_error),
              finished_at = IF(?, CURRENT_TIMESTAMP(3), finished_at) WHERE id = ?`,
      [state, lastError, terminal, id],
    );
  }

  /**
   * Claims a shard for one delivery: bumps its epoch (the fencing token) and attempts.
   * Returns the epoch, or `undefined` when the shard is already settled (a replay).
   */
  async claimShard(taskId: string, shardNo: number): Promise<number | undefined> {
    return inTransaction(this.db, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        'SELECT state, epoch FROM collect_shard WHERE task_id = ? AND shard_no = ? FOR UPDATE',
        [taskId, shardNo],
      );
      const row = rows[0];
      // A message of a task that already ended (say, FAILED when its shards could not all be
      // queued) must not write: its tree version is no longer the source's.
      const [tasks] = await conn.query<RowDataPacket[]>('SELECT state FROM collect_task WHERE id = ?', [
        taskId,
      ]);
      const taskState = tasks[0]?.state;
      if (
        !row ||
        !['PENDING', 'RUNNING', 'RETRYING'].includes(row.state) ||
        (taskState !== undefined && isTaskFinished(taskState))
      ) {
        return undefined;
      }
      const epoch = Number(row.epoch) + 1;
      // A delivered message was queued, whether or not its publisher lived to record the confirm.
      await conn.query(
        `UPDATE collect_shard SET state = 'RUNNING', epoch = ?, attempts = attempts + 1,
                queued_at = COALESCE(queued_at, CURRENT_TIMESTAMP(3))
          WHERE task_id = ? AND shard_no = ?`,
        [epoch, taskId, shardNo],
      );
      // Only the first claim of a task writes its row (the row every settle also updates).
      if (taskState === 'CREATED') {
        await conn.query(
          `UPDATE collect_task SET state = 'RUNNING', started_at = COALESCE(started_at, CURRENT_TIMESTAMP(3))
            WHERE id = ? AND state = 'CREATED'`,
          [taskId],
        );
      }
      return epoch;
    });
  }

  /**
   * Settles a shard (COMPLETED or FAILED) if `epoch` still owns it, and adds its counts to the
   * task. Returns false when a newer claim owns the shard: the caller's writes are stale.
   */
  async settleShard(
    conn: PoolConnection,
    taskId: string,
    shardNo: number,
    epoch: number,
    outcome: {
      state: 'COMPLETED' | 'FAILED';
      doneNodes: number;
      failedNodes: number;
      changedNodes: number;
      error?: string;
    },
  ): Promise<boolean> {
    const [res] = await conn.query(
      `UPDATE collect_shard SET state = ?, done_nodes = ?, failed_nodes = ?, changed_nodes = ?, last_error = ?
        WHERE task_id = ? AND shard_no = ? AND epoch = ? AND state = 'RUNNING'`,
      [
        outcome.state,
        outcome.doneNodes,
        outcome.failedNodes,
        outcome.changedNodes,
        outcome.error ?? null,
        taskId,
        shardNo,
        epoch,
      ],
    );
    if ((res as { affectedRows: number }).affectedRows !== 1) return false;
    const completed = outcome.state === 'COMPLETED' ? 1 : 0;
    await conn.query(
      `UPDATE collect_task SET done_shards = done_shards + ?, failed_shards = failed_shards + ?,
              done_nodes = done_nodes + ?, failed_nodes = failed_nodes + ?, changed_nodes = changed_nodes + ?,
              last_error = COALESCE(?, last_error)
        WHERE id = ?`,
      [
        completed,
        1 - completed,
        outcome.doneNodes,
        outcome.failedNodes,
        outcome.changedNodes,
        outcome.error ?? null,
        taskId,
      ],
    );
    return true;
  }

  async addDeleted(conn: PoolConnection, taskId: string, count: number): Promise<void> {
    await conn.query('UPDATE collect_task SET deleted_nodes = deleted_nodes + ? WHERE id = ?', [
      count,
      taskId,
    ]);
  }
}
