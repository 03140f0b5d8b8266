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
  /** The tree version that wrote this row: the run's own version when it is the run's copy. */
  validFrom: number;
  /** Cases: the version whose MongoDB document holds the content (see CaseStore). */
  docVersion?: number;
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
    before.name !== n.name ||
    before.parentId !== n.parentId ||
    before.path !== n.path ||
    before.level !== n.level ||
    before.position !== n.position
  );
}

/**
 * SQL condition: the row of `alias` is what a reader of tree version `?` sees (one placeholder,
 * repeated by `visibleArgs`). Deleted nodes are rows too: add `deleted = 0` for live ones.
 */
export const visibleAt = (alias: string): string =>
  `${alias}.valid_from <= ? AND (${alias}.valid_to IS NULL OR ${alias}.valid_to > ?)`;
export const visibleArgs = (version: number): [number, number] => [version, version];

/** SQL condition: the row of `alias` is the node's current row for writers (the run's own copy, or the last published one). */
export const headOf = (alias: string): string => `${alias}.valid_to IS NULL`;

/** Ids per `IN (…)` lookup: keeps statements small whatever the request size. */
const LOOKUP_BATCH = 1000;

export const TABLE: Record<NodeType, { name: string; parent: string; columns: readonly string[] }> = {
  DIRECTORY: {
    name: 'test_directory',
    parent: 'parent_id',
    columns: ['parent_id', 'name', 'path', 'level', 'position', 'content_hash'],
  },
  CASE: {
    name: 'test_case',
    parent: 'directory_id',
    columns: [
      'directory_id',
      'name',
      'path',
      'level',
      'position',
      'status',
      'priority',
      'content_hash',
      'doc_version',
    ],
  },
};

/** Columns every tree row has besides its data: key, versions, flags and times. */
const ROW_COLUMNS = [
  'tenant_id',
  'source',
  'id',
  'version',
  'valid_from',
  'valid_to',
  'seen_version',
  'deleted',
  'create_time',
  'update_time',
] as const;

const affected = (res: unknown): number => (res as { affectedRows: number }).affectedRows;

/** A source's versions: the last one handed out, the published one, and the run holding it. */
export interface SourceVersions {
  last: number;
  published: number;
  activeTaskId: string | null;
}

/** The source's versions (undefined: never imported nor collected); `lock` takes its row for the caller's transaction. */
export async function sourceVersions(
  conn: Queryable,
  tenantId: string,
  source: string,
  lock: '' | 'FOR UPDATE' | 'LOCK IN SHARE MODE' = '',
): Promise<SourceVersions | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT last_version, published_version, active_task_id FROM tree_source
      WHERE tenant_id = ? AND source = ? ${lock}`,
    [tenantId, source],
  );
  const r = rows[0];
  return r
    ? { last: Number(r.last_version), published: Number(r.published_version), activeTaskId: r.active_task_id }
    : undefined;
}

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
    validFrom: Number(r.valid_from),
    ...(type === 'CASE' ? { docVersion: Number(r.doc_version) } : {}),
    status: r.status,
    priority: priorityOf(r.priority),
    updateTime: r.update_time,
  };
}

/**
 * The test-case tree in MySQL, versioned. Each node has one row per range of tree versions it is
 * valid in (`valid_from` ≤ V < `valid_to`); its head row (`valid_to` NULL) is what writers see.
 * A run writes version N and never changes a row an older version can see: it copies the head
 * first (copy-on-write: the copy has `valid_from` = N, the original gets `valid_to` = N) and
 * changes its own copies in place. Readers read `tree_source.published_version`, so a run's
 * changes become visible all at once when it publishes (TreeVersions.publish), and a run that
 * never publishes is discarded by the next one (`beginImport`).
 */
export class TreeStore {
  constructor(private readonly db: Pool) {}

  /**
   * Starts an import of a source inside the caller's transaction: takes the source (only one
   * import at a time, so two trees never interleave) and hands out its next tree version.
   * Throws 409 naming the import that holds the source. An unfinished import with no progress
   * for `after.staleSeconds`, or with shards lost (see TaskStore.failLost), does not hold it: it
   * is returned as `superseded`, for the caller to end (TaskStore.abandon). What an earlier run
   * wrote and never published is discarded here, before the new version is handed out.
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
      `SELECT s.last_version, s.published_version, s.active_task_id, t.state AS active_state,
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
    const last = Number(row?.last_version ?? 0);
    const published = Number(row?.published_version ?? 0);
    if (last > published) await this.discard(conn, tenantId, source, published, last);
    const version = last + 1;
    await conn.query(
      'UPDATE tree_source SET last_version = ?, active_task_id = ? WHERE tenant_id = ? AND source = ?',
      [version, taskId, tenantId, source],
    );
    return superseded ? { version, superseded } : { version };
  }

  /**
   * Discards what the run of `version` wrote, now, inside the caller's transaction: when it is
   * still the source's newest version and unpublished (otherwise there is nothing of it left).
   * For a run that can never publish (an import in parts cancelled or ended before its commit).
   */
  async discardVersion(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
  ): Promise<void> {
    const state = await sourceVersions(conn, tenantId, source, 'FOR UPDATE');
    if (state?.last === version && state.published < version)
      await this.discard(conn, tenantId, source, state.published, version);
  }

  /**
   * Drops what versions after `published` wrote (their rows deleted, the rows they replaced
   * current again) and records them in `tree_discarded`, for their MongoDB documents to be
   * removed (TreeRetention). Inside the caller's transaction, source locked.
   */
  private async discard(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    published: number,
    last: number,
  ): Promise<void> {
    for (const t of Object.values(TABLE)) {
      await conn.query(`DELETE FROM ${t.name} WHERE tenant_id = ? AND source = ? AND valid_from > ?`, [
        tenantId,
        source,
        published,
      ]);
      await conn.query(
        `UPDATE ${t.name} SET valid_to = NULL WHERE tenant_id = ? AND source = ? AND valid_to > ?`,
        [tenantId, source, published],
      );
    }
    await conn.query(
      'INSERT IGNORE INTO tree_discarded (tenant_id, source, version, after_version) VALUES (?, ?, ?, ?)',
      [tenantId, source, last, published],
    );
  }

  /**
   * A retried run takes its source again, inside the caller's transaction: refused (SOURCE_BUSY)
   * while another run holds it, when a newer run started since (its tree would be overwritten
   * by older data and its own changes were discarded), or when its version was published
   * already (from a partial run, by hand).
   */
  async retakeSource(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    taskId: string,
    version: number,
  ) {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT s.last_version, s.published_version, s.active_task_id, t.state AS active_state
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
    if (Number(row?.published_version ?? 0) >= version) {
      throw new EngineError(
        'SOURCE_BUSY',
        `version ${version} of source "${source}" was published already; start a new run`,
        { version },
      );
    }
    await conn.query('UPDATE tree_source SET active_task_id = ? WHERE tenant_id = ? AND source = ?', [
      taskId,
      tenantId,
      source,
    ]);
  }

  /**
   * Whether run `taskId` may still write `version` (inside its transaction): it holds the source
   * and its version is the source's newest, not published yet. Takes a shared lock on the source,
   * so a new run cannot begin (and discard this one) while the caller's write is in flight. A run
   * that lost its source (cancelled, or a newer run began) writes nothing.
   */
  async mayWrite(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
    taskId: string,
  ): Promise<boolean> {
    const state = await sourceVersions(conn, tenantId, source, 'LOCK IN SHARE MODE');
    return state?.activeTaskId === taskId && state.last === version && state.published < version;
  }

  /** Frees the source once its import reached a final state. */
  async endImport(conn: Queryable, tenantId: string, source: string, taskId: string): Promise<void> {
    await conn.query(
      'UPDATE tree_source SET active_task_id = NULL WHERE tenant_id = ? AND source = ? AND active_task_id = ?',
      [tenantId, source, taskId],
    );
  }

  /**
   * Head rows (what writers see: deleted ones included) for `ids` from the tables of `types`
   * (default both), by id; or, with `at`, the rows a reader of that version sees.
   */
  async findByIds(
    conn: Queryable,
    tenantId: string,
    source: string,
    ids: string[],
    types: readonly NodeType[] = ['DIRECTORY', 'CASE'],
    at?: number,
  ): Promise<Map<string, NodeRow>> {
    const found = new Map<string, NodeRow>();
    const which = at === undefined ? headOf('t') : visibleAt('t');
    const whichArgs = at === undefined ? [] : visibleArgs(at);
    for (let i = 0; i < ids.length; i += LOOKUP_BATCH) {
      const batch = ids.slice(i, i + LOOKUP_BATCH);
      for (const type of types) {
        const t = TABLE[type];
        const extra = type === 'CASE' ? ', status, priority, doc_version' : '';
        const [rows] = await conn.query<RowDataPacket[]>(
          `SELECT id, ${t.parent} AS parent_id, name, path, level, position, content_hash, deleted, version,
                  valid_from, update_time${extra}
             FROM ${t.name} t WHERE tenant_id = ? AND source = ? AND id IN (?) AND ${which}`,
          [tenantId, source, batch, ...whichArgs],
        );
        for (const r of rows) found.set(r.id, toStored(type, r));
      }
    }
    return found;
  }

  /**
   * The head rows of `nodes`, each from the table of its own type (`own`), and the rows of the
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
          `SELECT MAX(level) AS l, MAX(CHAR_LENGTH(path)) AS p FROM ${t.name} t
            WHERE tenant_id = ? AND source = ? AND path LIKE ? AND deleted = 0 AND ${headOf('t')}`,
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
          `SELECT ${t.parent} AS p, MAX(position) AS m FROM ${t.name} t
            WHERE tenant_id = ? AND source = ? AND ${t.parent} IN (?) AND deleted = 0 AND ${headOf('t')}
            GROUP BY ${t.parent}`,
          [tenantId, source, named],
        ]);
      }
      if (parentIds.includes(null)) {
        queries.push([
          `SELECT NULL AS p, MAX(position) AS m FROM ${t.name} t
            WHERE tenant_id = ? AND source = ? AND ${t.parent} IS NULL AND deleted = 0 AND ${headOf('t')}`,
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

  /**
   * Writes `nodes` as version `version`, given their head rows `before` (read by the caller;
   * for cases, `docVersions` says which MongoDB document holds each one's content, default
   * `version`). A node that did not change is only marked seen (FULL runs delete the unseen).
   * A changed one gets the run's own row: the published head is closed and a copy written, or
   * the run's copy is updated.
   */
  async upsert(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
    nodes: FlatNode[],
    before: ReadonlyMap<string, StoredNode>,
    docVersions: ReadonlyMap<string, number> = new Map(),
  ): Promise<void> {
    for (const type of ['DIRECTORY', 'CASE'] as const) {
      const changed: FlatNode[] = [];
      const seen: string[] = [];
      for (const n of nodes)
        if (n.type === type) structureChanged(n, before.get(n.id)) ? changed.push(n) : seen.push(n.id);
      const t = TABLE[type];
      for (let i = 0; i < seen.length; i += LOOKUP_BATCH) {
        await conn.query(
          `UPDATE ${t.name} t SET seen_version = GREATEST(seen_version, ?)
            WHERE tenant_id = ? AND source = ? AND id IN (?) AND ${headOf('t')}`,
          [version, tenantId, source, seen.slice(i, i + LOOKUP_BATCH)],
        );
      }
      if (changed.length === 0) continue;
      // Published heads these replace are closed; a node new to the tree has none.
      const replaced = changed
        .filter((n) => (before.get(n.id)?.validFrom ?? version) < version)
        .map((n) => n.id);
      for (let i = 0; i < replaced.length; i += LOOKUP_BATCH) {
        await conn.query(
          `UPDATE ${t.name} t SET valid_to = ?
            WHERE tenant_id = ? AND source = ? AND id IN (?) AND ${headOf('t')} AND valid_from < ?`,
          [version, tenantId, source, replaced.slice(i, i + LOOKUP_BATCH), version],
        );
      }
      const rows = changed.map((n) => {
        const data: unknown[] = [n.parentId, n.name, n.path, n.level, n.position];
        if (type === 'CASE') {
          const priority = n.metadata?.priority;
          data.push(n.metadata?.status ?? 'ACTIVE', priority === undefined ? null : JSON.stringify(priority));
        }
        data.push(n.hash);
        if (type === 'CASE') data.push(docVersions.get(n.id) ?? version);
        return [tenantId, source, n.id, ...data, version, version, version, 0];
      });
      await conn.query(
        `INSERT INTO ${t.name} (tenant_id, source, id, ${t.columns.join(', ')}, version, valid_from, seen_version, deleted)
         VALUES ?
         ON DUPLICATE KEY UPDATE ${t.columns.map((c) => `${c} = VALUES(${c})`).join(', ')},
           seen_version = VALUES(seen_version), deleted = 0, valid_to = NULL, update_time = CURRENT_TIMESTAMP(3)`,
        [rows],
      );
    }
  }

  /**
   * Copy-on-write of the head rows of `type` that match `where` (a condition on alias `t`, with
   * `join` joined): `set` (column → SQL expression) is applied to the run's own copies, published
   * heads are copied with it applied and closed. Returns how many nodes it changed.
   */
  private async rewrite(
    conn: PoolConnection,
    type: NodeType,
    tenantId: string,
    source: string,
    version: number,
    q: { where: string; args?: unknown[]; set: Record<string, string>; setArgs?: unknown[]; join?: string },
  ): Promise<number> {
    const { name: table, columns } = TABLE[type];
    const join = q.join ?? '';
    const args = q.args ?? [];
    const setArgs = q.setArgs ?? [];
    const scope = `t.tenant_id = ? AND t.source = ? AND ${headOf('t')}`;
    const sets = Object.entries(q.set).map(([c, e]) => `t.${c} = ${e}`);
    const [own] = await conn.query(
      `UPDATE ${table} t ${join}
          SET ${[...sets, 't.version = ?', 't.update_time = CURRENT_TIMESTAMP(3)'].join(', ')}
        WHERE ${scope} AND t.valid_from = ? AND (${q.where})`,
      [...setArgs, version, tenantId, source, version, ...args],
    );
    const all = [...ROW_COLUMNS, ...columns];
    const copied: Record<string, string> = {
      ...q.set,
      version: '?',
      valid_from: '?',
      valid_to: 'NULL',
      update_time: 'CURRENT_TIMESTAMP(3)',
    };
    // Placeholders in select order: the `set` expressions' own, then version and valid_from.
    const selectArgs: unknown[] = [];
    const select = all.map((c) => {
      if (c === 'version' || c === 'valid_from') selectArgs.push(version);
      else if (c in q.set) selectArgs.push(...argsOf(q.set, c, setArgs));
      return copied[c] ?? `t.${c}`;
    });
    const [copies] = await conn.query(
      `INSERT INTO ${table} (${all.join(', ')})
       SELECT ${select.join(', ')} FROM ${table} t ${join}
        WHERE ${scope} AND t.valid_from < ? AND (${q.where})`,
      [...selectArgs, tenantId, source, version, ...args],
    );
    if (affected(copies) > 0) {
      await conn.query(
        `UPDATE ${table} t ${join} SET t.valid_to = ?
          WHERE ${scope} AND t.valid_from < ? AND (${q.where})`,
        [version, tenantId, source, version, ...args],
      );
    }
    return affected(own) + affected(copies);
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
    for (const type of ['DIRECTORY', 'CASE'] as const) {
      await this.rewrite(conn, type, tenantId, source, version, {
        where: 't.path LIKE ?',
        args: [subtreePattern(oldPath)],
        set: { path: 'CONCAT(?, SUBSTRING(t.path, ?))', level: 't.level + ?' },
        setArgs: [newPath, oldPath.length + 1, levelDelta],
      });
    }
  }

  /** Deletes nodes and everything under them; returns how many nodes it deleted. */
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
    for (const type of ['DIRECTORY', 'CASE'] as const) {
      count += await this.deleteWhere(conn, type, tenantId, source, version, 't.id IN (?)', [ids]);
      for (const root of roots.values()) {
        if (root.type !== 'DIRECTORY' || root.deleted) continue;
        count += await this.deleteWhere(conn, type, tenantId, source, version, 't.path LIKE ?', [
          subtreePattern(root.path),
        ]);
      }
    }
    return count;
  }

  private deleteWhere(
    conn: PoolConnection,
    type: NodeType,
    tenantId: string,
    source: string,
    version: number,
    where: string,
    args: unknown[],
  ): Promise<number> {
    return this.rewrite(conn, type, tenantId, source, version, {
      where: `t.deleted = 0 AND ${where}`,
      args,
      set: { deleted: '1', seen_version: '?' },
      setArgs: [version],
    });
  }

  /** FULL run's end: deletes every live node the tree of `version` did not contain. */
  async softDeleteUnseen(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
  ): Promise<number> {
    let count = 0;
    for (const type of ['DIRECTORY', 'CASE'] as const)
      count += await this.deleteWhere(conn, type, tenantId, source, version, 't.seen_version < ?', [version]);
    return count;
  }

  /**
   * Deletes every live node the run of `version` did not see under `rootPath` (the node itself
   * included): a FULL run of a subtree (RANGE by rootId).
   */
  async softDeleteUnseenUnder(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
    rootPath: string,
  ): Promise<number> {
    let count = 0;
    for (const type of ['DIRECTORY', 'CASE'] as const) {
      count += await this.deleteWhere(
        conn,
        type,
        tenantId,
        source,
        version,
        't.seen_version < ? AND (t.path = ? OR t.path LIKE ?)',
        [version, rootPath, subtreePattern(rootPath)],
      );
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
    const dirs = await this.deleteWhere(conn, 'DIRECTORY', tenantId, source, version, 't.seen_version < ?', [
      version,
    ]);
    const cases = await this.deleteWhere(
      conn,
      'CASE',
      tenantId,
      source,
      version,
      `t.seen_version < ? AND EXISTS (SELECT 1 FROM test_directory d
          WHERE d.tenant_id = t.tenant_id AND d.source = t.source AND d.id = t.directory_id
            AND ${headOf('d')} AND d.deleted = 1)`,
      [version],
    );
    return dirs + cases;
  }

  /** Cases whose directory moved take its new path (they keep their own id and place). */
  async refreshCasePaths(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
  ): Promise<void> {
    await this.rewrite(conn, 'CASE', tenantId, source, version, {
      join: `JOIN test_directory d ON d.tenant_id = t.tenant_id AND d.source = t.source
               AND d.id = t.directory_id AND ${headOf('d')}`,
      where: `t.deleted = 0 AND d.deleted = 0 AND t.path <> CONCAT(d.path, '/', t.id)`,
      set: { path: `CONCAT(d.path, '/', t.id)`, level: 'd.level + 1' },
    });
  }
}

/** The placeholders' values of the `set` expression of column `c`, taken in the order of `set`. */
function argsOf(set: Record<string, string>, c: string, setArgs: unknown[]): unknown[] {
  let offset = 0;
  for (const [col, expr] of Object.entries(set)) {
    const n = (expr.match(/\?/g) ?? []).length;
    if (col === c) return setArgs.slice(offset, offset + n);
    offset += n;
  }
  return [];
}
