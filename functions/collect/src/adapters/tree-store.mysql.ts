import { conflict } from '@collect/common';
import { EngineError, isTaskFinished } from '@collect/core';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { FlatNode } from '../schemas';
import { lostShard } from './task-store.mysql';

export type NodeType = 'DIRECTORY' | 'CASE';

/** A case's priority as it was given (text or number), from its column's JSON text. */
export const priorityOf = (v: unknown): string | number | null =>
  typeof v === 'string' ? (JSON.parse(v) as string | number) : null;

/** What the store knows of an existing node, enough to tell what an upsert changes. */
export interface StoredNode {
  id: string;
  type: NodeType;
  parentId: string | null;
  name: string;
  path: string;
  level: number;
  position: number;
  hash: string;
  deleted: boolean;
  version: number;
}

export interface NodeRow extends StoredNode {
  status?: string;
  priority?: string | number | null;
  updateTime: Date;
}

type Queryable = Pool | PoolConnection;

/** Whether storing `n` changes its row (new, revived, moved, renamed, or other content). */
export function structureChanged(n: FlatNode, before: StoredNode | undefined): boolean {
  return (
    !before ||
    before.deleted ||
    before.type !== n.type ||
    before.hash !== n.hash ||
    before.parentId !== n.parentId ||
    before.path !== n.path ||
    before.position !== n.position
  );
}

/** Ids per `IN (…)` lookup: keeps statements small whatever the request size. */
const LOOKUP_BATCH = 1000;

const TABLE: Record<NodeType, { name: string; parent: string }> = {
  DIRECTORY: { name: 'test_directory', parent: 'parent_id' },
  CASE: { name: 'test_case', parent: 'directory_id' },
};

/** LIKE pattern for every node strictly under `path`. */
export const subtreePattern = (path: string): string => `${path.replace(/[\\%_]/g, (c) => `\\${c}`)}/%`;

function toStored(type: NodeType, r: RowDataPacket): NodeRow {
  return {
    id: r.id,
    type,
    parentId: r.parent_id,
    name: r.name,
    path: r.path,
    level: r.level,
    position: r.position,
    hash: r.content_hash,
    deleted: r.deleted === 1,
    version: Number(r.version),
    status: r.status,
    priority: priorityOf(r.priority),
    updateTime: r.update_time,
  };
}

/**
 * The test-case tree in MySQL. Rows are only changed by a tree version at least as new as the
 * one that last saw them (`seen_version`), so replays and late deliveries of older versions
 * change nothing.
 */
export class TreeStore {
  constructor(private readonly db: Pool) {}

  /**
   * Starts an import of a source inside the caller's transaction: takes the source (only one
   * import at a time, so two trees never interleave) and hands out its next tree version.
   * Throws 409 naming the import that holds the source. An unfinished import with no progress
   * for `after.staleSeconds`, or with shards lost (see TaskStore.failLost), does not hold it: it
   * is returned as `superseded`, for the caller to end (TaskStore.abandon).
   */
  async beginImport(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    taskId: string,
    after: { staleSeconds: number; lostSeconds: number },
  ): Promise<{ version: number; superseded?: { taskId: string; error: string } }> {
    await conn.query('INSERT IGNORE INTO tree_source (tenant_id, source) VALUES (?, ?)', [tenantId, source]);
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT s.last_version, s.active_task_id, t.state AS active_state,
              t.state <> 'PAUSED' AND GREATEST(t.updated_at, COALESCE(
                (SELECT MAX(h.updated_at) FROM collect_shard h WHERE h.task_id = t.id), t.updated_at))
                < NOW(3) - INTERVAL ? SECOND AS stale,
              EXISTS (SELECT 1 FROM collect_shard h WHERE h.task_id = t.id AND ${lostShard('h')}) AS lost
         FROM tree_source s LEFT JOIN collect_task t ON t.id = s.active_task_id
        WHERE s.tenant_id = ? AND s.source = ? FOR UPDATE`,
      [after.staleSeconds, after.lostSeconds, tenantId, source],
    );
    const row = rows[0];
    let superseded: { taskId: string; error: string } | undefined;
    if (row?.active_task_id && row.active_state && !isTaskFinished(row.active_state)) {
      if (!row.stale && !row.lost) {
        throw conflict(
          `source "${source}" is busy: task ${row.active_task_id} (${row.active_state}) is importing or collecting it`,
          {
            taskId: row.active_task_id,
            state: row.active_state,
          },
        );
      }
      const why = row.lost
        ? `shard(s) never queued (the API stopped before RabbitMQ confirmed them)`
        : `no progress for ${after.staleSeconds} s`;
      superseded = { taskId: row.active_task_id, error: `abandoned: ${why}; superseded by ${taskId}` };
    }
    const version = Number(row?.last_version ?? 0) + 1;
    await conn.query(
      'UPDATE tree_source SET last_version = ?, active_task_id = ? WHERE tenant_id = ? AND source = ?',
      [version, taskId, tenantId, source],
    );
    return superseded ? { version, superseded } : { version };
  }

  /**
   * A retried run takes its source again, inside the caller's transaction: refused (SOURCE_BUSY)
   * while another run holds it, or when a newer run started since (its tree would be overwritten
   * by older data).
   */
  async retakeSource(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    taskId: string,
    version: number,
  ) {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT s.last_version, s.active_task_id, t.state AS active_state
         FROM tree_source s LEFT JOIN collect_task t ON t.id = s.active_task_id
        WHERE s.tenant_id = ? AND s.source = ? FOR UPDATE`,
      [tenantId, source],
    );
    const row = rows[0];
    const busy = row?.active_task_id && row.active_task_id !== taskId && !isTaskFinished(row.active_state);
    if (busy) {
      throw new EngineError('SOURCE_BUSY', `another run of source "${source}" is in progress`, {
        taskId: row.active_task_id,
        state: row.active_state,
      });
    }
    if (Number(row?.last_version ?? 0) !== version) {
      throw new EngineError(
        'SOURCE_BUSY',
        `a newer run of source "${source}" started since this one; start a new run`,
        {
          version,
          latestVersion: Number(row?.last_version ?? 0),
        },
      );
    }
    await conn.query('UPDATE tree_source SET active_task_id = ? WHERE tenant_id = ? AND source = ?', [
      taskId,
      tenantId,
      source,
    ]);
  }

  /** Whether the source was ever imported or collected (emptied since or not). */
  async sourceExists(conn: Queryable, tenantId: string, source: string): Promise<boolean> {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT 1 FROM tree_source WHERE tenant_id = ? AND source = ?',
      [tenantId, source],
    );
    return rows.length > 0;
  }

  /** Frees the source once its import reached a final state. */
  async endImport(conn: Queryable, tenantId: string, source: string, taskId: string): Promise<void> {
    await conn.query(
      'UPDATE tree_source SET active_task_id = NULL WHERE tenant_id = ? AND source = ? AND active_task_id = ?',
      [tenantId, source, taskId],
    );
  }

  async markApplied(conn: Queryable, tenantId: string, source: string, version: number): Promise<void> {
    await conn.query(
      'UPDATE tree_source SET applied_version = GREATEST(applied_version, ?) WHERE tenant_id = ? AND source = ?',
      [version, tenantId, source],
    );
  }

  /** Rows for `ids` (deleted ones included) from the tables of `types` (default both), by id. */
  async findByIds(
    conn: Queryable,
    tenantId: string,
    source: string,
    ids: string[],
    types: readonly NodeType[] = ['DIRECTORY', 'CASE'],
  ): Promise<Map<string, NodeRow>> {
    const found = new Map<string, NodeRow>();
    for (let i = 0; i < ids.length; i += LOOKUP_BATCH) {
      const batch = ids.slice(i, i + LOOKUP_BATCH);
      for (const type of types) {
        const t = TABLE[type];
        const extra = type === 'CASE' ? ', status, priority' : '';
        const [rows] = await conn.query<RowDataPacket[]>(
          `SELECT id, ${t.parent} AS parent_id, name, path, level, position, content_hash, deleted, version, update_time${extra}
             FROM ${t.name} WHERE tenant_id = ? AND source = ? AND id IN (?)`,
          [tenantId, source, batch],
        );
        for (const r of rows) found.set(r.id, toStored(type, r));
      }
    }
    return found;
  }

  /**
   * The stored rows of `nodes`, each from the table of its own type (`own`), and the rows of the
   * other type that have the same ids (`other`: a case cannot become a directory, nor the
   * reverse). Two lookups, one per table, whatever the mix of types.
   */
  async rowsOf(
    conn: Queryable,
    tenantId: string,
    source: string,
    nodes: readonly { id: string; type: NodeType }[],
  ): Promise<{ own: Map<string, NodeRow>; other: Map<string, NodeRow> }> {
    const ids = [...new Set(nodes.map((n) => n.id))];
    const directories = await this.findByIds(conn, tenantId, source, ids, ['DIRECTORY']);
    const cases = await this.findByIds(conn, tenantId, source, ids, ['CASE']);
    const own = new Map<string, NodeRow>();
    const other = new Map<string, NodeRow>();
    for (const n of nodes) {
      const [same, different] = n.type === 'CASE' ? [cases, directories] : [directories, cases];
      const mine = same.get(n.id);
      const theirs = different.get(n.id);
      if (mine) own.set(n.id, mine);
      if (theirs) other.set(n.id, theirs);
    }
    return { own, other };
  }

  /**
   * For each directory path, the deepest level and the longest path among its live descendants
   * (absent: no descendants), so a move can be checked against the depth and path limits.
   */
  async subtreeExtents(
    tenantId: string,
    source: string,
    paths: string[],
  ): Promise<Map<string, { maxLevel: number; maxPathLength: number }>> {
    const out = new Map<string, { maxLevel: number; maxPathLength: number }>();
    for (const path of paths) {
      let maxLevel = 0;
      let maxPathLength = 0;
      for (const t of Object.values(TABLE)) {
        const [rows] = await this.db.query<RowDataPacket[]>(
          `SELECT MAX(level) AS l, MAX(CHAR_LENGTH(path)) AS p FROM ${t.name}
            WHERE tenant_id = ? AND source = ? AND path LIKE ? AND deleted = 0`,
          [tenantId, source, subtreePattern(path)],
        );
        maxLevel = Math.max(maxLevel, Number(rows[0]?.l ?? 0));
        maxPathLength = Math.max(maxPathLength, Number(rows[0]?.p ?? 0));
      }
      if (maxLevel > 0) out.set(path, { maxLevel, maxPathLength });
    }
    return out;
  }

  /** Highest child position under each parent (`null` = top level), live nodes only. */
  async maxChildPositions(
    tenantId: string,
    source: string,
    parentIds: (string | null)[],
  ): Promise<Map<string | null, number>> {
    const out = new Map<string | null, number>();
    const named = parentIds.filter((p): p is string => p !== null);
    for (const type of ['DIRECTORY', 'CASE'] as const) {
      const t = TABLE[type];
      const queries: [string, unknown[]][] = [];
      if (named.length > 0) {
        queries.push([
          `SELECT ${t.parent} AS p, MAX(position) AS m FROM ${t.name}
            WHERE tenant_id = ? AND source = ? AND ${t.parent} IN (?) AND deleted = 0 GROUP BY ${t.parent}`,
          [tenantId, source, named],
        ]);
      }
      if (parentIds.includes(null)) {
        queries.push([
          `SELECT NULL AS p, MAX(position) AS m FROM ${t.name}
            WHERE tenant_id = ? AND source = ? AND ${t.parent} IS NULL AND deleted = 0`,
          [tenantId, source],
        ]);
      }
      for (const [sql, args] of queries) {
        const [rows] = await this.db.query<RowDataPacket[]>(sql, args);
        for (const r of rows) {
          if (r.m === null) continue;
          out.set(r.p, Math.max(out.get(r.p) ?? -1, Number(r.m)));
        }
      }
    }
    return out;
  }

  /** Multi-row upserts, one statement per table; see the class comment for the version guard. */
  async upsert(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
    nodes: FlatNode[],
  ): Promise<void> {
    const row = (n: FlatNode, extra: unknown[]) => [
      tenantId,
      source,
      n.id,
      n.parentId,
      n.name,
      n.path,
      n.level,
      n.position,
      ...extra,
      n.hash,
      version,
      version,
      0,
    ];
    const dirs = nodes.filter((n) => n.type === 'DIRECTORY').map((n) => row(n, []));
    const cases = nodes
      .filter((n) => n.type === 'CASE')
      .map((n) => {
        const priority = n.metadata?.priority;
        return row(n, [
          n.metadata?.status ?? 'ACTIVE',
          priority === undefined ? null : JSON.stringify(priority),
        ]);
      });
    await this.upsertRows(conn, 'DIRECTORY', [], dirs);
    await this.upsertRows(conn, 'CASE', ['status', 'priority'], cases);
  }

  private async upsertRows(
    conn: PoolConnection,
    type: NodeType,
    extra: string[],
    rows: unknown[][],
  ): Promise<void> {
    if (rows.length === 0) return;
    const { name: table, parent } = TABLE[type];
    const data = [parent, 'name', 'path', 'level', 'position', ...extra, 'content_hash', 'deleted'];
    // MariaDB evaluates ON DUPLICATE KEY assignments left to right, each seeing the ones before:
    // `version` and `update_time` are decided before any compared column changes, and
    // `seen_version` (the guard) is written last.
    const guard = 'VALUES(seen_version) >= seen_version';
    const changed = `${guard} AND (deleted = 1 OR content_hash <> VALUES(content_hash) OR NOT (${parent} <=> VALUES(${parent}))
        OR path <> VALUES(path) OR position <> VALUES(position) OR level <> VALUES(level) OR name <> VALUES(name))`;
    await conn.query(
      `INSERT INTO ${table}
         (tenant_id, source, id, ${parent}, name, path, level, position, ${extra.map((c) => `${c}, `).join('')}content_hash, version, seen_version, deleted)
       VALUES ?
       ON DUPLICATE KEY UPDATE
         version = IF(${changed}, VALUES(version), version),
         update_time = IF(${changed}, CURRENT_TIMESTAMP(3), update_time),
         ${data.map((col) => `${col} = IF(${guard}, VALUES(${col}), ${col})`).join(', ')},
         seen_version = GREATEST(seen_version, VALUES(seen_version))`,
      [rows],
    );
  }

  /** Moves every live descendant of a moved directory from `oldPath` to `newPath`. */
  async rewriteSubtreePaths(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
    oldPath: string,
    newPath: string,
    levelDelta: number,
  ): Promise<void> {
    for (const t of Object.values(TABLE)) {
      await conn.query(
        `UPDATE ${t.name}
            SET path = CONCAT(?, SUBSTRING(path, ?)), level = level + ?, version = ?, update_time = CURRENT_TIMESTAMP(3)
          WHERE tenant_id = ? AND source = ? AND path LIKE ? AND seen_version <= ?`,
        [
          newPath,
          oldPath.length + 1,
          levelDelta,
          version,
          tenantId,
          source,
          subtreePattern(oldPath),
          version,
        ],
      );
    }
  }

  /** Soft-deletes nodes and everything under them; returns how many rows it deleted. */
  async softDeleteSubtrees(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
    ids: string[],
  ): Promise<number> {
    if (ids.length === 0) return 0;
    const roots = await this.findByIds(conn, tenantId, source, ids);
    let count = 0;
    for (const t of Object.values(TABLE)) {
      const [res] = await conn.query(
        `UPDATE ${t.name} SET deleted = 1, version = ?, seen_version = ?, update_time = CURRENT_TIMESTAMP(3)
          WHERE tenant_id = ? AND source = ? AND deleted = 0 AND seen_version <= ? AND id IN (?)`,
        [version, version, tenantId, source, version, ids],
      );
      count += (res as { affectedRows: number }).affectedRows;
      for (const root of roots.values()) {
        if (root.type !== 'DIRECTORY') continue;
        const [sub] = await conn.query(
          `UPDATE ${t.name} SET deleted = 1, version = ?, seen_version = ?, update_time = CURRENT_TIMESTAMP(3)
            WHERE tenant_id = ? AND source = ? AND deleted = 0 AND seen_version <= ? AND path LIKE ?`,
          [version, version, tenantId, source, version, subtreePattern(root.path)],
        );
        count += (sub as { affectedRows: number }).affectedRows;
      }
    }
    return count;
  }

  /** FULL import end: soft-deletes every live node the tree of `version` did not contain. */
  async softDeleteUnseen(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
  ): Promise<number> {
    let count = 0;
    for (const t of Object.values(TABLE)) {
      const [res] = await conn.query(
        `UPDATE ${t.name} SET deleted = 1, version = ?, update_time = CURRENT_TIMESTAMP(3)
          WHERE tenant_id = ? AND source = ? AND deleted = 0 AND seen_version < ?`,
        [version, tenantId, source, version],
      );
      count += (res as { affectedRows: number }).affectedRows;
    }
    return count;
  }

  /**
   * Soft-deletes every live node the run of `version` did not see under `rootPath` (the node
   * itself included): a FULL run of a subtree (RANGE by rootId).
   */
  async softDeleteUnseenUnder(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
    rootPath: string,
  ): Promise<number> {
    let count = 0;
    for (const t of Object.values(TABLE)) {
      const [res] = await conn.query(
        `UPDATE ${t.name} SET deleted = 1, version = ?, update_time = CURRENT_TIMESTAMP(3)
          WHERE tenant_id = ? AND source = ? AND deleted = 0 AND seen_version < ? AND (path = ? OR path LIKE ?)`,
        [version, tenantId, source, version, rootPath, subtreePattern(rootPath)],
      );
      count += (res as { affectedRows: number }).affectedRows;
    }
    return count;
  }

  /**
   * An INCREMENTAL run lists the directories in full but only changed cases: directories it did
   * not see are gone, with the cases still under them (a case moved out during the run was seen).
   */
  async softDeleteUnseenDirectories(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
  ): Promise<number> {
    const [dirs] = await conn.query(
      `UPDATE test_directory SET deleted = 1, version = ?, update_time = CURRENT_TIMESTAMP(3)
        WHERE tenant_id = ? AND source = ? AND deleted = 0 AND seen_version < ?`,
      [version, tenantId, source, version],
    );
    const [cases] = await conn.query(
      `UPDATE test_case c JOIN test_directory d
          ON d.tenant_id = c.tenant_id AND d.source = c.source AND d.id = c.directory_id
          SET c.deleted = 1, c.version = ?, c.update_time = CURRENT_TIMESTAMP(3)
        WHERE c.tenant_id = ? AND c.source = ? AND c.deleted = 0 AND c.seen_version < ? AND d.deleted = 1`,
      [version, tenantId, source, version],
    );
    return (dirs as { affectedRows: number }).affectedRows + (cases as { affectedRows: number }).affectedRows;
  }

  /** Cases whose directory moved take its new path (they keep their own id and place). */
  async refreshCasePaths(tenantId: string, source: string, version: number): Promise<void> {
    await this.db.query(
      `UPDATE test_case c JOIN test_directory d
          ON d.tenant_id = c.tenant_id AND d.source = c.source AND d.id = c.directory_id
          SET c.path = CONCAT(d.path, '/', c.id), c.level = d.level + 1, c.version = ?,
              c.update_time = CURRENT_TIMESTAMP(3)
        WHERE c.tenant_id = ? AND c.source = ? AND c.deleted = 0 AND d.deleted = 0
          AND c.path <> CONCAT(d.path, '/', c.id) AND c.seen_version <= ?`,
      [version, tenantId, source, version],
    );
  }
}
