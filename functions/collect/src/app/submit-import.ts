import {
  encodeBody,
  inTransaction,
  newId,
  type OutgoingMessage,
  publishConfirmed,
  topology,
} from '@collect/common';
import { chunk } from '@collect/core';
import type { ConfirmChannel } from 'amqplib';
import type { Pool, PoolConnection } from 'mysql2/promise';
import type { ImportStaging } from '../adapters/import-staging.mysql';
import type { TaskEvents } from '../adapters/task-events.mongo';
import type { NewShard, TaskStore } from '../adapters/task-store.mysql';
import type { TreeStore } from '../adapters/tree-store.mysql';
import type { Config } from '../config';
import type { FlatNode, ImportChunkMessage, ImportRequest } from '../schemas';
import { type ImportPlan, planFull, planIncremental } from './plan-import';
import { withinTaskQuota } from './task-quota';

export interface ImportDeps {
  config: Config;
  db: Pool;
  trees: TreeStore;
  tasks: TaskStore;
  events: TaskEvents;
  staging: ImportStaging;
  channel: () => Promise<ConfirmChannel>;
}

/** Upper bound of one chunk message, well under the 6 MB a Lambda invocation accepts. */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/** A shard message with its upserts already serialised (each node is stringified once). */
export type PlannedMessage = ImportChunkMessage & { readonly upsertsJson?: string };

/**
 * Cuts nodes into chunks of at most `size` nodes and about `maxBytes` of JSON each. Each node is
 * serialised once: the same text (from `texts`, made while planning, when given) measures the
 * chunk and becomes the message body.
 */
export function* chunkNodes(
  nodes: FlatNode[],
  size: number,
  maxBytes = MAX_CHUNK_BYTES,
  nodeTexts?: readonly string[],
): Generator<{ nodes: FlatNode[]; json: string }> {
  let current: FlatNode[] = [];
  let texts: string[] = [];
  let bytes = 0;
  for (let i = 0; i < nodes.length; i += 1) {
    const n = nodes[i] as FlatNode;
    const text = nodeTexts?.[i] ?? JSON.stringify(n);
    if (current.length > 0 && (current.length >= size || bytes + text.length > maxBytes)) {
      yield { nodes: current, json: `[${texts.join(',')}]` };
      current = [];
      texts = [];
      bytes = 0;
    }
    current.push(n);
    texts.push(text);
    // UTF-16 length: a lower bound of the UTF-8 bytes, close for the mostly-ASCII JSON of a tree.
    bytes += text.length;
  }
  if (current.length > 0) yield { nodes: current, json: `[${texts.join(',')}]` };
}

/** The shard messages of a plan, numbered from `firstShardNo`. */
export function shardMessages(
  base: Omit<ImportChunkMessage, 'shardNo' | 'upserts' | 'deletes'>,
  firstShardNo: number,
  plan: ImportPlan,
  chunkSize: number,
): PlannedMessage[] {
  const messages: PlannedMessage[] = [];
  const next = () => firstShardNo + messages.length;
  for (const { nodes, json } of chunkNodes(plan.upserts, chunkSize, MAX_CHUNK_BYTES, plan.texts)) {
    messages.push({ ...base, shardNo: next(), upserts: nodes, deletes: [], upsertsJson: json });
  }
  for (const ids of chunk(plan.deletes, chunkSize)) {
    messages.push({ ...base, shardNo: next(), upserts: [], deletes: ids });
  }
  return messages;
}

/** The JSON body of a shard message, reusing its serialised upserts when it has them. */
export function encodeMessage(m: PlannedMessage): Buffer {
  const { upserts, upsertsJson, ...head } = m;
  return Buffer.from(
    `${JSON.stringify(head).slice(0, -1)},"upserts":${upsertsJson ?? JSON.stringify(upserts)}}`,
  );
}

export const shardsOf = (messages: ImportChunkMessage[]): NewShard[] =>
  messages.map((m) => ({
    kind: m.deletes.length > 0 ? 'delete' : 'upsert',
    nodeCount: m.upserts.length + m.deletes.length,
  }));

/**
 * Publishes shard messages and resolves once RabbitMQ confirmed them all, then records that
 * they are queued. If publishing fails the task is marked FAILED (its shards were never queued)
 * and the error rethrown.
 */
export async function publishShards(
  deps: ImportDeps,
  taskId: string,
  messages: PlannedMessage[],
): Promise<void> {
  const t = topology(deps.config.AMQP_PREFIX);
  try {
    const outgoing = await Promise.all(
      messages.map(
        async (m): Promise<OutgoingMessage> => ({
          routingKey: 'import-chunk',
          messageId: `${m.taskId}#${m.shardNo}`,
          ...(await encodeBody(encodeMessage(m), deps.config.AMQP_GZIP_MIN_BYTES)),
        }),
      ),
    );
    await publishConfirmed(await deps.channel(), t.exchange, outgoing);
  } catch (err) {
    const first = messages[0];
    await inTransaction(deps.db, async (conn) => {
      await deps.tasks.setState(
        taskId,
        'FAILED',
        `could not enqueue shards: ${(err as Error).message}`,
        conn,
      );
      if (first) await deps.trees.endImport(conn, first.tenantId, first.source, taskId);
    });
    throw err;
  }
  // Until this is recorded, a shard that no worker has claimed yet counts as lost once
  // IMPORT_ENQUEUE_TIMEOUT_SECONDS have passed (see TaskStore.failLost).
  // In a transaction for its deadlock retry: workers lock these rows as they claim them.
  await inTransaction(deps.db, (conn) =>
    deps.tasks.markQueued(
      conn,
      taskId,
      messages.map((m) => m.shardNo),
    ),
  );
}

/**
 * Validates and plans an import, records the task and its shards, publishes one persistent
 * message per shard and returns only after RabbitMQ confirmed them all. Nothing is written when
 * the request is invalid.
 */
export async function submitImport(
  deps: ImportDeps,
  tenantId: string,
  req: ImportRequest,
): Promise<{ taskId: string }> {
  const limits = importLimits(deps.config);
  const plan: ImportPlan =
    req.mode === 'FULL'
      ? planFull(req.tree, limits)
      : await planIncremental(req, limits, {
          findByIds: (ids) => deps.trees.findByIds(deps.db, tenantId, req.source, ids),
          maxChildPositions: (parents) => deps.trees.maxChildPositions(tenantId, req.source, parents),
          subtreeExtents: (paths) => deps.trees.subtreeExtents(tenantId, req.source, paths),
        });

  const taskId = newId();
  const base = { taskId, tenantId, source: req.source, mode: req.mode };
  // The shards depend on the plan only; their version is known once the source is taken.
  const draft = shardMessages({ ...base, version: 0 }, 0, plan, deps.config.IMPORT_CHUNK_SIZE);
  // A FULL import of an empty tree still needs one shard: its completion deletes everything.
  if (draft.length === 0) draft.push({ ...base, version: 0, shardNo: 0, upserts: [], deletes: [] });
  const version = await inTransaction(deps.db, async (conn) => {
    const v = await takeSource(deps, conn, tenantId, req.source, taskId);
    await deps.tasks.create(conn, {
      id: taskId,
      tenantId,
      kind: IMPORT_TASK_KIND,
      source: req.source,
      mode: req.mode,
      treeVersion: v,
      totalNodes: plan.upserts.length + plan.deletes.length,
      params: { upserts: plan.upserts.length, deletes: plan.deletes.length },
      shards: shardsOf(draft),
    });
    return v;
  });
  const messages = draft.map((m) => ({ ...m, version }));
  await publishShards(deps, taskId, messages);
  await deps.events.record({
    taskId,
    level: 'info',
    message: `import accepted: ${plan.upserts.length} upserts, ${plan.deletes.length} deletes in ${messages.length} shard(s)`,
    data: { mode: req.mode, source: req.source, version },
  });
  return { taskId };
}

export const IMPORT_TASK_KIND = 'testcase-import';

/**
 * Takes the source for `taskId` inside the caller's transaction and returns its new tree
 * version (see TreeStore.beginImport); an import it supersedes ends FAILED with its shards.
 */
export async function takeSource(
  deps: ImportDeps,
  conn: PoolConnection,
  tenantId: string,
  source: string,
  taskId: string,
): Promise<number> {
  // Every new task (a run or an import) takes a source: the tenant's quota of tasks is kept here.
  await withinTaskQuota(conn, tenantId);
  const { version, superseded } = await deps.trees.beginImport(conn, tenantId, source, taskId, {
    staleSeconds: deps.config.IMPORT_STALE_SECONDS,
    lostSeconds: deps.config.IMPORT_ENQUEUE_TIMEOUT_SECONDS,
  });
  if (superseded) await deps.tasks.abandon(conn, superseded.taskId, superseded.error);
  return version;
}

export const importLimits = (config: Config) => ({
  maxNodes: config.IMPORT_MAX_NODES,
  maxDepth: config.IMPORT_MAX_DEPTH,
});
