import { inTransaction } from '@collect/common';
import type { Checkpoint, CommitOutcome, PageStore, Task } from '@collect/core';
import type { Pool } from 'mysql2/promise';
import { applyPatch } from '../app/merge-patch';
import type { FlatNode, ImportPage } from '../schemas';
import type { CaseStore } from './case-store.mongo';
import { checkpointShard, lockOwnedShard } from './engine-tasks.mysql';
import { type NodeRow, structureChanged, type TreeStore } from './tree-store.mysql';

/**
 * Pushed import pages as the engine's page store. A page is flattened already (paths computed
 * by the API), so `prepare` only reads the stored rows of its nodes and writes the MongoDB
 * documents of cases that are new or changed (before MySQL: a crash in between replays the
 * document write rather than skipping it); `commit` is one MySQL transaction: the tree rows of
 * the import's version (invisible to readers until it publishes), moved subtrees
 * (INCREMENTAL), deletes, the shard completed (fenced by its epoch and by the version still
 * being the source's newest) and the task's counters.
 */
export class ImportPageStore implements PageStore<ImportPage> {
  private readonly prepared = new WeakMap<
    ImportPage[],
    { upserts: FlatNode[]; before: Map<string, NodeRow>; docVersions: Map<string, number> }
  >();

  constructor(
    private readonly db: Pool,
    private readonly trees: TreeStore,
    private readonly cases: CaseStore,
    private readonly versionOf: (taskId: string) => Promise<number>,
  ) {}

  async prepare(task: Task, pages: ImportPage[]): Promise<void> {
    const version = await this.versionOf(task.id);
    const given = pages.flatMap((p) => p.upserts);
    const before = await this.storedRows(task, given);
    const upserts = await this.merged(task, given, before);
    const docVersions = await this.cases.writeChanged(task.tenantId, task.source, version, upserts, before);
    this.prepared.set(pages, { upserts, before, docVersions });
  }

  /** INCREMENTAL upserts merged into the stored cases, against what is stored now. */
  private async merged(task: Task, given: FlatNode[], before: Map<string, NodeRow>): Promise<FlatNode[]> {
    const patched = given.filter((n) => n.patch);
    if (patched.length === 0) return given;
    const existing = patched.flatMap((n): [string, number][] => {
      const row = before.get(n.id);
      return n.type === 'CASE' && row && !row.deleted ? [[n.id, row.docVersion ?? 0]] : [];
    });
    const docs = await this.cases.getMany(task.tenantId, task.source, existing);
    return given.map((n) => applyPatch(n, before.get(n.id), docs.get(n.id)));
  }

  /** The MySQL rows of the nodes, each from the table of its own type (an id that changed type has one of each). */
  private async storedRows(task: Task, upserts: FlatNode[]): Promise<Map<string, NodeRow>> {
    return (await this.trees.rowsOf(this.db, task.tenantId, task.source, upserts)).own;
  }

  async commit(
    task: Task,
    shard: { shardNo: number; epoch: number },
    pages: ImportPage[],
    cp: Checkpoint,
  ): Promise<CommitOutcome> {
    if (!this.prepared.has(pages)) await this.prepare(task, pages);
    const { upserts, before, docVersions } = this.prepared.get(pages) as NonNullable<
      ReturnType<typeof this.prepared.get>
    >;
    const version = await this.versionOf(task.id);
    const { tenantId, source } = task;
    const deletes = pages.flatMap((p) => p.deletes);
    const changed = upserts.filter((n) => structureChanged(n, before.get(n.id)));
    return inTransaction(this.db, async (conn): Promise<CommitOutcome> => {
      // The task row first, then the shard: the lock order of every unit of the engine.
      await conn.query('SELECT id FROM collect_task WHERE id = ? FOR UPDATE', [task.id]);
      const owned = await lockOwnedShard(conn, task.id, shard);
      if (!owned) return { owned: false };
      if (!(await this.trees.mayWrite(conn, tenantId, source, version, task.id)))
        return { owned: true, halted: true };
      await this.trees.upsert(conn, tenantId, source, version, upserts, before, docVersions);
      if (task.mode === 'INCREMENTAL') {
        for (const n of changed) {
          const old = before.get(n.id);
          if (n.type === 'DIRECTORY' && old && !old.deleted && old.path !== n.path)
            await this.trees.rewriteSubtreePaths(
              conn,
              tenantId,
              source,
              version,
              old.path,
              n.path,
              n.level - old.level,
            );
        }
      }
      const deleted = await this.trees.softDeleteSubtrees(conn, tenantId, source, version, deletes);
      await checkpointShard(conn, task.id, shard.shardNo, {
        done: cp.done,
        pages: cp.pages,
        records: upserts.length + deletes.length,
        failed: 0,
        changed: changed.length,
      });
      await conn.query(
        `UPDATE collect_task SET done_nodes = done_nodes + ?, changed_nodes = changed_nodes + ?,
                deleted_nodes = deleted_nodes + ? WHERE id = ?`,
        [upserts.length + deletes.length, changed.length, deleted, task.id],
      );
      return { owned: true, requested: cp.done ? null : owned.requested };
    });
  }

  /** Nothing to do: the cache holds published versions only, which a run never changes. */
  async committed(): Promise<void> {}

  /** Imports are planned by their request; nothing is listed up front. */
  async writePlanned(): Promise<void> {}
}
