import { inTransaction, logger } from '@collect/common';
import type { RunLifecycle, Task, TaskState } from '@collect/core';
import type { Pool } from 'mysql2/promise';
import type { TreeRetention } from '../app/tree-retention';
import type { SnapshotWriter } from '../app/tree-snapshot';
import { PUSH_COLLECTOR } from './engine-tasks.mysql';
import type { ImportStaging } from './import-staging.mysql';
import type { TaskAnnouncer } from './task-announcer.rabbitmq';
import type { TaskStore } from './task-store.mysql';
import type { TreeCache } from './tree-cache.redis';
import type { TreePageStore } from './tree-pages';
import type { TreeStore } from './tree-store.mysql';
import type { TreeVersions } from './tree-versions.mysql';

/**
 * How a run of a test-case tree ends, collected or imported (push). A COMPLETED run publishes
 * its version: FULL deletes what the source no longer has (RANGE by rootId: within that
 * subtree), INCREMENTAL the directories the source no longer lists (and what is under them),
 * then the version is published (readers switch to it in that same commit), the snapshot
 * written, and FULL and INCREMENTAL runs move the source's watermark to when they started
 * reading. An import deletes what a FULL tree lacks; an INCREMENTAL import's deletes are its own
 * (applied by its shards), and an import has no watermark. A run that did not complete
 * publishes nothing: its rows stay invisible, for a retry to finish or for `publishPartial`, and
 * the next run of the source discards them. Either way the source is freed, versions beyond
 * those retained purged, and the staging rows of an import in parts forgotten. Every step is
 * idempotent.
 */
export class TreeRunLifecycle implements RunLifecycle {
  constructor(
    private readonly db: Pool,
    private readonly trees: TreeStore,
    private readonly tasks: TaskStore,
    private readonly versions: Pick<TreePageStore, 'versionOf'>,
    private readonly published: TreeVersions,
    private readonly snapshots: SnapshotWriter,
    private readonly retention: Pick<TreeRetention, 'sweepSource'>,
    private readonly cache: Pick<TreeCache, 'notePublished'>,
    private readonly staging: ImportStaging,
    private readonly announcer: Pick<TaskAnnouncer, 'announce'>,
  ) {}

  async finishing(task: Task, final: TaskState): Promise<void> {
    if (final !== 'COMPLETED') return;
    const version = await this.versions.versionOf(task.id);
    const done = await inTransaction(this.db, async (conn) => {
      const locked = await this.tasks.get(task.id, conn, true);
      if (!locked || locked.state === 'COMPLETED') return false;
      const source = await this.published.of(conn, task.tenantId, task.source, 'FOR UPDATE');
      // A run whose version a newer one discarded has nothing left to publish; one published
      // already (a replay after a crash) only writes its snapshot again.
      if (source?.last !== version) return false;
      if (source.published >= version) return true;
      const pushed = task.collector === PUSH_COLLECTOR;
      let deleted = 0;
      if (pushed) {
        if (task.mode === 'FULL') {
          const unseen = await this.trees.softDeleteUnseen(conn, task.tenantId, task.source, version);
          if (unseen > 0) await this.tasks.addDeleted(conn, task.id, unseen);
        }
      } else if (task.mode === 'FULL')
        deleted = await this.trees.softDeleteUnseen(conn, task.tenantId, task.source, version);
      else if (task.mode === 'INCREMENTAL')
        deleted = await this.trees.softDeleteUnseenDirectories(conn, task.tenantId, task.source, version);
      else if (task.range && 'rootId' in task.range) {
        const root = (await this.trees.findByIds(conn, task.tenantId, task.source, [task.range.rootId])).get(
          task.range.rootId,
        );
        if (root)
          deleted = await this.trees.softDeleteUnseenUnder(
            conn,
            task.tenantId,
            task.source,
            version,
            root.path,
          );
      }
      // deleted_nodes is set, not added: a replay of this step must not count twice.
      if (deleted > 0)
        await conn.query('UPDATE collect_task SET deleted_nodes = ? WHERE id = ?', [deleted, task.id]);
      await this.published.publish(conn, task.tenantId, task.source, version, {
        taskId: task.id,
        mode: task.mode,
      });
      if (!pushed && (task.mode === 'FULL' || task.mode === 'INCREMENTAL') && task.startedReadingAt) {
        await conn.query(
          // A job's runs keep the job's own watermark; other runs that of the source and collector.
          `INSERT INTO collect_watermark (tenant_id, source, collector, job_id, watermark, task_id)
           SELECT ?, ?, ?, COALESCE(job_id, ''), ?, ? FROM collect_task WHERE id = ?
           ON DUPLICATE KEY UPDATE task_id = IF(VALUES(watermark) > watermark, VALUES(task_id), task_id),
                                   watermark = GREATEST(watermark, VALUES(watermark))`,
          [task.tenantId, task.source, task.collector, new Date(task.startedReadingAt), task.id, task.id],
        );
      }
      return true;
    });
    if (!done) return;
    // Readers switch to it now (the cache notes it for a few seconds; MySQL has it already).
    await this.cache.notePublished(task.tenantId, task.source, version);
    await this.snapshots.write(task.tenantId, task.source, version, task.id, task.mode);
  }

  async finished(task: Task, final: TaskState): Promise<void> {
    if (task.collector === PUSH_COLLECTOR && final !== 'COMPLETED') {
      // An import in parts that ended before its commit can never be committed: what its parts
      // wrote goes now, not when the next import of the source begins.
      const row = await this.tasks.get(task.id);
      if (row?.inParts && !row.committedAt)
        await inTransaction(this.db, (conn) =>
          this.trees.discardVersion(conn, task.tenantId, task.source, row.treeVersion ?? 0),
        );
    }
    await this.trees.endImport(this.db, task.tenantId, task.source, task.id);
    // Best effort: the every-minute sweep does it too.
    if (final === 'COMPLETED')
      await this.retention
        .sweepSource(task.tenantId, task.source)
        .catch((err) =>
          logger().warn({ err, source: task.source }, 'purging old tree versions failed; the sweep will'),
        );
    if (task.collector === PUSH_COLLECTOR) await this.staging.clear(task.id);
    // A job's run: the register hears of its end (its dependants start when it COMPLETED).
    await this.announcer.announce(task, final);
  }
}
