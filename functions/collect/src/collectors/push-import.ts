import { CollectError, type Collector } from '@collect/core';
import { z } from 'zod';
import { PUSH_COLLECTOR } from '../adapters/engine-tasks.mysql';
import { type ImportPage, importPageSchema } from '../schemas';

/**
 * The HTTP import as a source of the engine: a push source whose pages are the posted chunks.
 * The API plans an import (validation, flattening, chunks) and queues one shard per chunk with
 * the chunk in its message; a shard's one page is that chunk. So control, logs, retries and
 * dead letters work for imports as for collections. Its shards run on the import queue.
 */
export function pushImportCollector(): Collector<unknown, unknown, null, ImportPage, ImportPage> {
  return {
    type: PUSH_COLLECTOR,
    version: '1',
    route: 'import-chunk',
    push: true,
    settings: z.unknown(),
    secrets: [],
    // biome-ignore lint/correctness/useYield: an import is never planned by a plan message
    async *plan() {
      throw new CollectError('task-fatal', 'an import is planned by its request, not by a plan message');
    },
    async fetchPage(ctx) {
      const page = importPageSchema.safeParse(ctx.inline);
      if (!page.success)
        throw new CollectError(
          'shard-fatal',
          ctx.inline === undefined
            ? "the shard's chunk is no longer kept (it was never applied and its message is gone): import again"
            : `the shard's chunk is not an import chunk: ${page.error.issues[0]?.message ?? 'unreadable'}`,
        );
      return { items: [page.data], next: null };
    },
    map: (pages) => pages,
  };
}
