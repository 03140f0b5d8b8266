import { inTransaction } from '@collect/common';
import type { Checkpoint, CommitOutcome, PageStore, Task } from '@collect/core';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { hashAndSerialize } from '../app/tree-walk';
import { type FlatNode, nodeIdSchema } from '../schemas';
import type { CaseStore } from './case-store.mongo';
import { checkpointShard, lockOwnedShard } from './engine-tasks.mysql';
import { type NodeRow, structureChanged, type TreeStore } from './tree-store.mysql';

/** A node as a collector maps it: its place is its parent; the store works out its path. */
export interface TreeRecord {
  id: string;
  type: 'DIRECTORY' | 'CASE';
  parentId: string | null;
  name: string;
  position: number;
  content?: FlatNode['content'];
  metadata?: FlatNode['metadata'];
}

interface Prepared {
  nodes: FlatNode[];
  /** The head rows of `nodes` before this page. */
  before: Map<string, NodeRow>;
  /** The MongoDB document version of each case (see CaseStore.writeChanged). */
  docVersions: Map<string, number>;
  changed: number;
  /** Why the records left out were refused. */
  refused: string[];
}

const MAX_NAME = 255;

/** A name the tree can store: trimmed to 255 characters, the id when empty. */
const storableName = (r: TreeRecord): string => {
  const name = r.name.trim() === '' ? r.id : r.name;
  return [...name].length > MAX_NAME ? [...name].slice(0, MAX_NAME).join('') : name;
};

/**
 * The test-case tree as the engine's page store. `prepare` places each record under its stored
 * parent directory (a record whose parent the source never listed is rejected and counted) and
 * writes the MongoDB documents of cases that are new or changed; `commit` is one MySQL
 * transaction: the tree rows of the run's version (invisible to readers until it publishes)
 * and the shard's checkpoint, fenced by its epoch and by the run's version still being the
 * source's newest.
 */
export class TreePageStore implements PageStore<TreeRecord> {
  private readonly prepared = new WeakMap<TreeRecord[], Prepared>();
  private readonly versions = new Map<string, number>();

  constructor(
    private readonly db: Pool,
    private readonly trees: TreeStore,
    private readonly cases: CaseStore,
  ) {}

  /** The tree version a task writes with (fixed when its source was taken). */
  async versionOf(taskId: string): Promise<number> {
    const known = this.versions.get(taskId);
    if (known !== undefined) return known;
    const [rows] = await this.db.query<RowDataPacket[]>(
      'SELECT tree_version FROM collect_task WHERE id = ?',
      [taskId],
    );
    const v = Number(rows[0]?.tree_version ?? 0);
    if (this.versions.size > 1000) this.versions.clear();
    this.versions.set(taskId, v);
    return v;
  }

  async prepare(task: Task, records: TreeRecord[]): Promise<void> {
    const version = await this.versionOf(task.id);
    // One record per id (the first), with an id the tree can store, not naming a live node of the
    // other type (a case cannot become a directory, as for imports). The rest count as failed.
    const refused: string[] = [];
    const seen = new Set<string>();
    const unique = records.filter((r) => {
      if (!nodeIdSchema.safeParse(r.id).success)
        refused.push(`${String(r.id).slice(0, 128)}: not a valid id`);
      else if (seen.has(r.id)) refused.push(`${r.id}: twice on one page`);
      else {
        seen.add(r.id);
        return true;
      }
      return false;
    });
    // One lookup per table: the rows these records will change, and any of the other type.
    const rows = await this.trees.rowsOf(this.db, task.tenantId, task.source, unique);
    const valid = unique.filter((r) => {
      if (!liveRow(rows.other.get(r.id))) return true;
      refused.push(`${r.id}: a live ${r.type === 'CASE' ? 'directory' : 'case'} has this id`);
      return false;
    });
    const parentIds = [...new Set(valid.map((r) => r.parentId).filter((p): p is string => p !== null))];
    const parents = await this.trees.findByIds(this.db, task.tenantId, task.source, parentIds, ['DIRECTORY']);
    const nodes: FlatNode[] = [];
    for (const r of valid) {
      const parent = r.parentId === null ? undefined : parents.get(r.parentId);
      if (r.parentId !== null && (!parent || parent.deleted)) {
        refused.push(`${r.id}: its directory "${r.parentId}" is not in the tree`);
        continue;
      }
      const path = `${parent?.path ?? ''}/${r.id}`;
      if (path.length > 3000) {
        refused.push(`${r.id}: nested too deep (path over 3000 characters)`);
        continue;
      }
      nodes.push(
        hashAndSerialize({
          id: r.id,
          type: r.type,
          parentId: r.parentId,
          name: storableName(r),
          path,
          level: (parent?.level ?? 0) + 1,
          position: Math.max(0, Math.min(r.position, 4_294_967_295)),
          ...(r.content ? { content: r.content } : {}),
          ...(r.metadata ? { metadata: r.metadata } : {}),
        }).node,
      );
    }
    const before = rows.own;
    const docVersions = await this.cases.writeChanged(task.tenantId, task.source, version, nodes, before);
    const changed = nodes.filter((n) => structureChanged(n, before.get(n.id))).length;
    this.prepared.set(records, { nodes, before, docVersions, changed, refused });
  }

  async commit(
    task: Task,
    shard: { shardNo: number; epoch: number },
    records: TreeRecord[],
    cp: Checkpoint,
  ): Promise<CommitOutcome> {
    const prepared = this.prepared.get(records) ?? {
      nodes: [],
      before: new Map(),
      docVersions: new Map(),
      changed: 0,
      refused: [],
    };
    const version = await this.versionOf(task.id);
    return inTransaction(this.db, async (conn): Promise<CommitOutcome> => {
      const owned = await lockOwnedShard(conn, task.id, shard);
      if (!owned) return { owned: false };
      if (!(await this.trees.mayWrite(conn, task.tenantId, task.source, version, task.id)))
        return { owned: true, halted: true };
      await this.trees.upsert(
        conn,
        task.tenantId,
        task.source,
        version,
        prepared.nodes,
        prepared.before,
        prepared.docVersions,
      );
      await checkpointShard(conn, task.id, shard.shardNo, {
        cursor: cp.cursor,
        done: cp.done,
        pages: cp.pages,
        records: prepared.nodes.length,
        failed: cp.failedRecords + (records.length - prepared.nodes.length),
        changed: prepared.changed,
      });
      return {
        owned: true,
        requested: cp.done ? null : owned.requested,
        ...(prepared.refused.length > 0 ? { refused: prepared.refused } : {}),
      };
    });
  }

  /** Nothing to do: the cache holds published versions only, which a run never changes. */
  async committed(): Promise<void> {}

  /**
   * Directories a collector lists while planning, parents before children. A directory whose
   * parent was not listed goes to the top level. When a stored directory moved, the paths of
   * the cases under it (which this run may not fetch again) follow it.
   */
  async writePlanned(task: Task, listed: TreeRecord[]): Promise<void> {
    const version = await this.versionOf(task.id);
    const rows = await this.trees.rowsOf(this.db, task.tenantId, task.source, listed);
    // A directory cannot take the id of a live case.
    const records = listed.filter((r) => !liveRow(rows.other.get(r.id)));
    const placed = new Map<string, { path: string; level: number }>();
    const outside = [...new Set(records.map((r) => r.parentId).filter((p): p is string => p !== null))];
    const stored = await this.trees.findByIds(this.db, task.tenantId, task.source, outside, ['DIRECTORY']);
    const nodes: FlatNode[] = [];
    for (const r of records) {
      if (!nodeIdSchema.safeParse(r.id).success) continue;
      const p = r.parentId === null ? undefined : (placed.get(r.parentId) ?? liveRow(stored.get(r.parentId)));
      const parentId = p ? r.parentId : null;
      const path = `${p?.path ?? ''}/${r.id}`;
      const level = (p?.level ?? 0) + 1;
      if (path.length > 3000) continue;
      placed.set(r.id, { path, level });
      nodes.push(
        hashAndSerialize({
          id: r.id,
          type: 'DIRECTORY',
          parentId,
          name: storableName(r),
          path,
          level,
          position: Math.max(0, r.position),
        }).node,
      );
    }
    const before = rows.own;
    const moved = nodes.some((n) => {
      const b = before.get(n.id);
      return b !== undefined && !b.deleted && b.path !== n.path;
    });
    for (let i = 0; i < nodes.length; i += 1000) {
      await inTransaction(this.db, async (conn) => {
        if (!(await this.trees.mayWrite(conn, task.tenantId, task.source, version, task.id)))
          throw new Error(`version ${version} of "${task.source}" was superseded by a newer run`);
        await this.trees.upsert(conn, task.tenantId, task.source, version, nodes.slice(i, i + 1000), before);
      });
    }
    if (moved) {
      await inTransaction(this.db, async (conn) => {
        if (await this.trees.mayWrite(conn, task.tenantId, task.source, version, task.id))
          await this.trees.refreshCasePaths(conn, task.tenantId, task.source, version);
      });
    }
  }
}

const liveRow = (r: NodeRow | undefined) => (r && !r.deleted ? r : undefined);
