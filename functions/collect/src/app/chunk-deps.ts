import type { Pool } from 'mysql2/promise';
import type { CaseStore } from '../adapters/case-store.mongo';
import type { ImportStaging } from '../adapters/import-staging.mysql';
import type { TaskEvents } from '../adapters/task-events.mongo';
import type { TaskStore } from '../adapters/task-store.mysql';
import type { TreeCache } from '../adapters/tree-cache.redis';
import type { TreeStore } from '../adapters/tree-store.mysql';
import type { SnapshotWriter } from './tree-snapshot';

/** What the import worker (apply, fail, finalise) needs. */
export interface ChunkDeps {
  db: Pool;
  trees: TreeStore;
  cases: CaseStore;
  cache: TreeCache;
  tasks: TaskStore;
  events: TaskEvents;
  snapshots: SnapshotWriter;
  staging: ImportStaging;
}
