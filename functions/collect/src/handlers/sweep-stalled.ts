import { logger, retryWhileUnavailable } from '@collect/common';
import { requeueStalledShards } from '@collect/core';
import { expireIdleImports } from '../app/import-parts';
import { getServices } from '../composition';
import { loadConfig } from '../config';

/**
 * Every minute (a schedule): publishes the flow limits again if Redis lost them, queues again
 * the shards RUNNING that no worker holds any more (SHARD_STALLED_MS without a change), so a lost
 * message cannot hold a run for ever, expires imports in parts idle for IMPORT_STALE_SECONDS,
 * and purges tree versions beyond TREE_VERSIONS_KEEP (and the documents of discarded runs).
 */
export const handler = async (): Promise<{ requeued: string[]; expired: string[]; purged: string[] }> => {
  const config = loadConfig();
  const s = await retryWhileUnavailable(getServices, config.WORKER_UNAVAILABLE_BUDGET_MS);
  // Flow limits Redis lost (restarted empty) are published again from MySQL: a bridge that
  // starts holds every function until it has read them, and no worker may run to publish them.
  await s.flowControl.current();
  const requeued = await requeueStalledShards(s.engine, config.SHARD_STALLED_MS);
  if (requeued.length > 0) logger().warn({ requeued }, 'stalled shards queued again');
  const expired = await expireIdleImports(s);
  if (expired.length > 0) logger().warn({ expired }, 'idle imports in parts expired');
  const purged = await s.retention.sweep();
  return { requeued, expired, purged };
};
