import { conflict, inTransaction, notFound } from '@collect/common';
import type { Pool } from 'mysql2/promise';
import type { TaskEvents } from '../adapters/task-events.mongo';
import type { TaskStore } from '../adapters/task-store.mysql';
import type { TreeCache } from '../adapters/tree-cache.redis';
import type { TreeVersions, VersionView } from '../adapters/tree-versions.mysql';
import { isTaskId } from '../schemas';
import type { SnapshotWriter } from './tree-snapshot';

export interface PublishDeps {
  db: Pool;
  tasks: TaskStore;
  versions: TreeVersions;
  snapshots: SnapshotWriter;
  events: Pick<TaskEvents, 'record'>;
  cache: Pick<TreeCache, 'notePublished'>;
}

/**
 * POST /api/tasks/{id}/publish: publishes what a PARTIALLY_COMPLETED run wrote, as the source's
 * next version. Its changes are published as they are; nothing it did not reach is deleted (a
 * FULL run's deletion of what the source no longer has needs the whole tree). A run whose
 * version is published (by hand, or a COMPLETED one by itself) answers with that version again.
 * 409 for a run in any other state, or whose changes a newer run of the source discarded.
 */
export async function publishPartial(
  deps: PublishDeps,
  tenantId: string,
  taskId: string,
): Promise<{ taskId: string; source: string; version: number; published: VersionView }> {
  if (!isTaskId(taskId)) throw notFound(`task "${taskId}"`);
  const done = await inTransaction(deps.db, async (conn) => {
    const task = await deps.tasks.get(taskId, conn, true);
    if (!task || task.tenantId !== tenantId) throw notFound(`task "${taskId}"`);
    const version = task.treeVersion ?? 0;
    const source = await deps.versions.of(conn, tenantId, task.source, 'FOR UPDATE');
    const already = source !== undefined && version > 0 && source.published >= version;
    const by = { taskId, mode: task.mode, partial: true };
    if (already && (await deps.versions.isRetained(conn, tenantId, task.source, version)))
      return {
        task,
        version,
        fresh: false,
        published: await deps.versions.publish(conn, tenantId, task.source, version, by),
      };
    if (task.state !== 'PARTIALLY_COMPLETED')
      throw conflict(
        task.state === 'COMPLETED'
          ? `task ${taskId} completed and published version ${version} itself`
          : `only a PARTIALLY_COMPLETED run can be published; task ${taskId} is ${task.state}`,
        { taskId, state: task.state },
      );
    if (source?.last !== version || already)
      throw conflict(
        `a newer run of source "${task.source}" began after task ${taskId}, and its changes were discarded`,
        { taskId, state: task.state, version, latestVersion: source?.last ?? 0 },
      );
    const published = await deps.versions.publish(conn, tenantId, task.source, version, by);
    return { task, version, fresh: true, published };
  });
  const { task, version, published } = done;
  if (done.fresh) {
    // Readers switch to it now. (Answered again for a run published earlier, nothing is noted:
    // a newer version may be the published one.)
    await deps.cache.notePublished(tenantId, task.source, version);
    await deps.snapshots.write(tenantId, task.source, version, taskId, task.mode);
    await deps.events.record({
      taskId,
      level: 'info',
      type: 'task.published',
      message: `partial run published as version ${version}`,
      data: { version, ...published.counts },
    });
  }
  return { taskId, source: task.source, version, published };
}
