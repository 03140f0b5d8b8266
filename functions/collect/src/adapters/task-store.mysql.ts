import { isTaskFinished, nextTaskState, type ShardState, type TaskState } from '@collect/core';
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
  /** A pause or stop asked and not yet honoured by every shard. */
  requested: string | null;
  /** No more shards will be added: the task may settle once they all have. */
  sealed: boolean;
  /** An import in parts: when it was committed (null: not committed). */
  committedAt: Date | null;
  /** An import sent in parts (POST /api/testcase/imports). */
  inParts: boolean;
  treeVersion: number | null;
  totalShards: number;
  totalNodes: number;
  doneNodes: number;
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
  /** A pause or stop asked of it while it runs. */
  requested: string | null;
  /** When RabbitMQ confirmed its message (null: not confirmed yet). */
  queuedAt: Date | null;
  updatedAt: Date;
}

type Queryable = Pool | PoolConnection;

/** The task's `params` column (JSON; drivers give it parsed or as text). */
const paramsOf = (r: RowDataPacket): Record<string, unknown> =>
  (typeof r.params === 'string' ? JSON.parse(r.params) : r.params) ?? {};

function toTask(r: RowDataPacket): TaskRow {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    kind: r.kind,
    source: r.source,
    mode: r.mode,
    state: r.state,
    requested: r.requested ?? null,
    sealed: r.sealed === 1,
    committedAt: r.committed_at ?? null,
    inParts: paramsOf(r).parts === true,
    treeVersion: r.tree_version === null ? null : Number(r.tree_version),
    totalShards: r.total_shards,
    totalNodes: r.total_nodes,
    doneNodes: r.done_nodes,
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
    state: 'PENDING' | 'PAUSED' = 'PENDING',
  ): Promise<void> {
    for (let i = 0; i < shards.length; i += 1000) {
      const rows = shards
        .slice(i, i + 1000)
        .map((s, j) => [taskId, firstNo + i + j, s.kind, state, s.nodeCount]);
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
    // A part sent to a paused import is kept, not applied: its shards wait PAUSED (their
    // messages leave their chunk with them) until the import is resumed.
    const paused = task.state === 'PAUSED' || task.requested === 'PAUSE';
    await this.insertShards(conn, task.id, task.totalShards, shards, paused ? 'PAUSED' : 'PENDING');
    await conn.query(
      'UPDATE collect_task SET total_shards = total_shards + ?, total_nodes = total_nodes + ? WHERE id = ?',
      [shards.length, nodes, task.id],
    );
    return task.totalShards;
  }

  /** No more shards: a task none of whose shards ran yet starts, so it can settle (even with none). */
  async seal(conn: PoolConnection, taskId: string): Promise<void> {
    await conn.query(
      `UPDATE collect_task SET sealed = 1, state = IF(state = 'CREATED', ?, state),
              started_at = COALESCE(started_at, CURRENT_TIMESTAMP(3)),
              committed_at = COALESCE(committed_at, CURRENT_TIMESTAMP(3)) WHERE id = ?`,
      [nextTaskState('CREATED', 'start'), taskId],
    );
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
  /**
   * Imports in parts still open (unsealed: never committed nor stopped; not finished, not
   * paused) with nothing new for `seconds`: no part, no shard progress.
   */
  async idleOpenImports(
    kind: string,
    seconds: number,
    limit = 100,
  ): Promise<{ id: string; tenantId: string }[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT t.id, t.tenant_id FROM collect_task t
        WHERE t.sealed = 0 AND t.kind = ? AND t.state NOT IN ('COMPLETED', 'FAILED', 'STOPPED', 'PAUSED')
          AND t.updated_at < NOW(3) - INTERVAL ? SECOND
          AND NOT EXISTS (SELECT 1 FROM collect_shard h
                           WHERE h.task_id = t.id AND h.updated_at >= NOW(3) - INTERVAL ? SECOND)
        LIMIT ?`,
      [kind, seconds, seconds, limit],
    );
    return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id }));
  }

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
    await conn.query('UPDATE collect_task SET last_error = ? WHERE id = ?', [error, taskId]);
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
      requested: r.requested ?? null,
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

  async addDeleted(conn: PoolConnection, taskId: string, count: number): Promise<void> {
    await conn.query('UPDATE collect_task SET deleted_nodes = deleted_nodes + ? WHERE id = ?', [
      count,
      taskId,
    ]);
  }
}
