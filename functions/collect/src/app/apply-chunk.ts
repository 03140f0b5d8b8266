import { inTransaction, logger } from '@collect/common';
import type { NodeRow, NodeType } from '../adapters/tree-store.mysql';
import type { FlatNode, ImportChunkMessage } from '../schemas';
import type { ChunkDeps } from './chunk-deps';
import { finalizeIfSettled } from './finalize-import';

/** Whether storing `n` changes its row (new, revived, moved, renamed, or other content). */
export function structureChanged(n: FlatNode, before: NodeRow | undefined): boolean {
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

/**
 * Applies one import shard. Order matters for crash safety:
 * 1. claim the shard (new epoch);
 * 2. MongoDB first, for cases whose content MySQL does not have yet (so a crash before the
 *    MySQL commit replays the write) or whose document is missing or differs in MongoDB;
 * 3. one MySQL transaction: tree upserts + shard settled (fenced by epoch) + task counters;
 * 4. Redis cache invalidated; the message is acked by the caller only after all of this.
 * A replay of a settled shard only re-runs the idempotent tail (invalidation, finalisation).
 */
export async function applyChunk(deps: ChunkDeps, msg: ImportChunkMessage): Promise<void> {
  const log = logger({ taskId: msg.taskId, shardNo: msg.shardNo });
  const epoch = await deps.tasks.claimShard(msg.taskId, msg.shardNo);
  if (epoch === undefined) {
    log.info('shard already settled; replay changes nothing');
    await deps.cache.invalidate(msg.tenantId, msg.source);
    await finalizeIfSettled(deps, msg.taskId);
    return;
  }
  const before = await storedRows(deps, msg);
  await writeCaseDetails(deps, msg, before);
  if (!(await writeTreeAndSettle(deps, msg, before, epoch))) {
    // A newer claim owns this shard (this delivery was redelivered elsewhere); its writes win.
    log.warn({ epoch }, 'stale epoch: shard owned by a newer delivery');
    return;
  }
  await deps.cache.invalidate(msg.tenantId, msg.source);
  await finalizeIfSettled(deps, msg.taskId);
}

/** The MySQL rows of the shard's nodes, each from the table of its own type (an id that changed type has one of each). */
async function storedRows(deps: ChunkDeps, msg: ImportChunkMessage): Promise<Map<string, NodeRow>> {
  const before = new Map<string, NodeRow>();
  for (const type of ['DIRECTORY', 'CASE'] as const satisfies readonly NodeType[]) {
    const ids = msg.upserts.filter((n) => n.type === type).map((n) => n.id);
    if (ids.length === 0) continue;
    for (const [id, row] of await deps.trees.findByIds(deps.db, msg.tenantId, msg.source, ids, [type])) {
      before.set(id, row);
    }
  }
  return before;
}

/**
 * MongoDB: a case MySQL does not know with this content is written (inserted when MySQL has no
 * row for it at all). One MySQL already has is checked against MongoDB's own hash and rewritten
 * only if its document is missing or differs, so the stores converge even after MongoDB lost
 * data, at the cost of one read per chunk.
 */
async function writeCaseDetails(
  deps: ChunkDeps,
  msg: ImportChunkMessage,
  before: Map<string, NodeRow>,
): Promise<void> {
  const cases = msg.upserts.filter((n) => n.type === 'CASE');
  const known = new Set(
    cases
      .filter((n) => {
        const row = before.get(n.id);
        return row !== undefined && !row.deleted && row.hash === n.hash;
      })
      .map((n) => n.id),
  );
  const stored = await deps.cases.contentHashes(msg.tenantId, msg.source, [...known]);
  const stale = cases.filter((n) => !known.has(n.id) || stored.get(n.id) !== n.hash);
  const unseen = new Set(cases.filter((n) => !before.has(n.id)).map((n) => n.id));
  await deps.cases.write(msg.tenantId, msg.source, msg.version, stale, unseen);
}

/**
 * MySQL, one transaction: the tree rows, moved subtrees (incremental), deletes, and the shard
 * settled with the task's counters, fenced by `epoch`. Returns false when a newer claim owns the
 * shard.
 */
async function writeTreeAndSettle(
  deps: ChunkDeps,
  msg: ImportChunkMessage,
  before: Map<string, NodeRow>,
  epoch: number,
): Promise<boolean> {
  const { tenantId, source, version } = msg;
  const changed = msg.upserts.filter((n) => structureChanged(n, before.get(n.id)));
  return inTransaction(deps.db, async (conn) => {
    await deps.trees.upsert(conn, tenantId, source, version, msg.upserts);
    if (msg.mode === 'INCREMENTAL') {
      for (const n of changed) {
        const old = before.get(n.id);
        if (n.type === 'DIRECTORY' && old && !old.deleted && old.path !== n.path) {
          await deps.trees.rewriteSubtreePaths(
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
    }
    const deleted = await deps.trees.softDeleteSubtrees(conn, tenantId, source, version, msg.deletes);
    const settled = await deps.tasks.settleShard(conn, msg.taskId, msg.shardNo, epoch, {
      state: 'COMPLETED',
      doneNodes: msg.upserts.length + msg.deletes.length,
      failedNodes: 0,
      changedNodes: changed.length,
    });
    if (settled && deleted > 0) await deps.tasks.addDeleted(conn, msg.taskId, deleted);
    return settled;
  });
}

/**
 * Records a shard that used up its deliveries as FAILED (with the error) so its task can settle.
 * The message itself still goes to the dead-letter queue, where its payload is kept.
 */
export async function failChunk(deps: ChunkDeps, msg: ImportChunkMessage, error: string): Promise<void> {
  const epoch = await deps.tasks.claimShard(msg.taskId, msg.shardNo);
  if (epoch === undefined) return;
  await inTransaction(deps.db, (conn) =>
    deps.tasks.settleShard(conn, msg.taskId, msg.shardNo, epoch, {
      state: 'FAILED',
      doneNodes: 0,
      failedNodes: msg.upserts.length + msg.deletes.length,
      changedNodes: 0,
      error,
    }),
  );
  await deps.events.record({
    taskId: msg.taskId,
    shardNo: msg.shardNo,
    level: 'error',
    message: `shard failed: ${error}`,
  });
  await finalizeIfSettled(deps, msg.taskId);
}
