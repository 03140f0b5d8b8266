import type { Db } from 'mongodb';

/** MongoDB collection names, in one place. */
export const MONGO = {
  caseDetail: 'case_detail',
  treeSnapshot: 'tree_snapshot',
  taskEvent: 'task_event',
} as const;

/**
 * Creates the collections' indexes (idempotent). `case_detail` and `tree_snapshot` use
 * deterministic string `_id`s, so replays upsert the same document.
 */
export async function setupMongo(db: Db, taskEventTtlDays: number): Promise<void> {
  await db
    .collection(MONGO.caseDetail)
    .createIndexes([{ key: { tenantId: 1, source: 1, caseId: 1 }, name: 'case_by_source', unique: true }]);
  await db
    .collection(MONGO.treeSnapshot)
    .createIndexes([
      { key: { tenantId: 1, source: 1, version: 1, part: 1 }, name: 'snapshot_by_version', unique: true },
    ]);
  await db.collection(MONGO.taskEvent).createIndexes([
    { key: { taskId: 1, at: 1 }, name: 'events_by_task' },
    { key: { taskId: 1, _id: 1 }, name: 'events_in_order' },
    { key: { at: 1 }, name: 'events_ttl', expireAfterSeconds: taskEventTtlDays * 86_400 },
  ]);
}
