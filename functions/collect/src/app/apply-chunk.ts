import { type EngineDeps, type RunOutcome, runShard, type ShardMessage } from '@collect/core';
import { z } from 'zod';
import type { TreeWrite } from '../adapters/page-stores';
import { engineMessageSchema } from '../adapters/shard-queue.rabbitmq';
import { importChunkMessageSchema } from '../schemas';

/**
 * A message of the import queue: the one the import published with its chunk, or one the engine
 * queued again (resume, retry, backoff) with the chunk the shard kept.
 */
export const importQueueMessageSchema = z.union([importChunkMessageSchema, engineMessageSchema]);
export type ImportQueueMessage = z.infer<typeof importQueueMessageSchema>;

/** An import shard's message as the engine runs it: its chunk is the shard's one page. */
export const importShardMessage = (m: ImportQueueMessage): ShardMessage =>
  'upserts' in m
    ? { taskId: m.taskId, shardNo: m.shardNo, gen: 0, inline: { upserts: m.upserts, deletes: m.deletes } }
    : m;

/**
 * Applies one import shard through the engine (claim with a new epoch → MongoDB documents → one
 * MySQL transaction: tree rows, shard completed, task counters → Redis cache → the task settles
 * when it was the last), or honours the control asked of it (a paused shard keeps its chunk).
 */
export function applyChunk(
  deps: { engine: EngineDeps<TreeWrite> },
  msg: ImportQueueMessage,
  deadline = Date.now() + 60_000,
): Promise<RunOutcome> {
  return runShard(deps.engine, importShardMessage(msg), { deadline });
}
