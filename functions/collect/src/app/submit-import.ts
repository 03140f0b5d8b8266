import {
  type Config,
  inTransaction,
  newId,
  type OutgoingMessage,
  publishConfirmed,
  topology,
} from '@collect/common';
import { chunk } from '@collect/core';
import type { ConfirmChannel } from 'amqplib';
import type { Pool } from 'mysql2/promise';
import type { TaskEvents } from '../adapters/task-events.mongo';
import type { TaskStore } from '../adapters/task-store.mysql';
import type { TreeStore } from '../adapters/tree-store.mysql';
import type { FlatNode, ImportChunkMessage, ImportRequest } from '../schemas';
import { type ImportPlan, planFull, planIncremental } from './plan-import';

export interface ImportDeps {
  config: Config;
  db: Pool;
  trees: TreeStore;
  tasks: TaskStore;
  events: TaskEvents;
  channel: () => Promise<ConfirmChannel>;
}

/** Upper bound of one chunk message, well under the 6 MB a Lambda invocation accepts. */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/** Cuts nodes into chunks of at most `size` nodes and about `maxBytes` of JSON each. */
export function* chunkNodes(
  nodes: FlatNode[],
  size: number,
  maxBytes = MAX_CHUNK_BYTES,
): Generator<FlatNode[]> {
  let current: FlatNode[] = [];
  let bytes = 0;
  for (const n of nodes) {
    const b = Buffer.byteLength(JSON.stringify(n));
    if (current.length > 0 && (current.length >= size || bytes + b > maxBytes)) {
      yield current;
      current = [];
      bytes = 0;
    }
    current.push(n);
    bytes += b;
  }
  if (current.length > 0) yield current;
}

/**
 * Validates and plans an import, records the task and its shards, publishes one persistent
 * message per shard and returns only after RabbitMQ confirmed them all. Nothing is written when
 * the request is invalid. If publishing fails the task is marked FAILED and the error rethrown.
 */
export async function submitImport(
  deps: ImportDeps,
  tenantId: string,
  req: ImportRequest,
): Promise<{ taskId: string }> {
  const limits = { maxNodes: deps.config.IMPORT_MAX_NODES, maxDepth: deps.config.IMPORT_MAX_DEPTH };
  const plan: ImportPlan =
    req.mode === 'FULL'
      ? planFull(req.tree, limits)
      : await planIncremental(req, limits, {
          findByIds: (ids) => deps.trees.findByIds(deps.db, tenantId, req.source, ids),
          maxChildPositions: (parents) => deps.trees.maxChildPositions(tenantId, req.source, parents),
        });

  const version = await deps.trees.allocateVersion(tenantId, req.source);
  const taskId = newId();
  const base = { taskId, tenantId, source: req.source, mode: req.mode, version };
  const messages: ImportChunkMessage[] = [];
  for (const nodes of chunkNodes(plan.upserts, deps.config.IMPORT_CHUNK_SIZE)) {
    messages.push({ ...base, shardNo: messages.length, upserts: nodes, deletes: [] });
  }
  for (const ids of chunk(plan.deletes, deps.config.IMPORT_CHUNK_SIZE)) {
    messages.push({ ...base, shardNo: messages.length, upserts: [], deletes: ids });
  }
  // A FULL import of an empty tree still needs one shard: its completion deletes everything.
  if (messages.length === 0) messages.push({ ...base, shardNo: 0, upserts: [], deletes: [] });

  await inTransaction(deps.db, (conn) =>
    deps.tasks.create(conn, {
      id: taskId,
      tenantId,
      kind: 'testcase-import',
      source: req.source,
      mode: req.mode,
      treeVersion: version,
      totalNodes: plan.upserts.length + plan.deletes.length,
      params: { upserts: plan.upserts.length, deletes: plan.deletes.length },
      shards: messages.map((m) => ({
        kind: m.deletes.length > 0 ? 'delete' : 'upsert',
        nodeCount: m.upserts.length + m.deletes.length,
      })),
    }),
  );

  const t = topology(deps.config.AMQP_PREFIX);
  const outgoing = messages.map(
    (m): OutgoingMessage => ({
      routingKey: 'import-chunk',
      messageId: `${taskId}#${m.shardNo}`,
      body: Buffer.from(JSON.stringify(m)),
    }),
  );
  try {
    await publishConfirmed(await deps.channel(), t.exchange, outgoing);
  } catch (err) {
    await deps.tasks.setState(taskId, 'FAILED', `could not enqueue shards: ${(err as Error).message}`);
    throw err;
  }
  await deps.events.record({
    taskId,
    level: 'info',
    message: `import accepted: ${plan.upserts.length} upserts, ${plan.deletes.length} deletes in ${messages.length} shard(s)`,
    data: { mode: req.mode, source: req.source, version },
  });
  return { taskId };
}
