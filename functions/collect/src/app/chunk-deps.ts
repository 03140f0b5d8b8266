import type { EngineDeps } from '@collect/core';
import type { Pool } from 'mysql2/promise';
import type { CaseStore } from '../adapters/case-store.mongo';
import type { ImportStaging } from '../adapters/import-staging.mysql';
import type { TreeWrite } from '../adapters/page-stores';
import type { TaskEvents } from '../adapters/task-events.mongo';
import type { TaskStore } from '../adapters/task-store.mysql';
import type { TreeCache } from '../adapters/tree-cache.redis';
import type { TreeStore } from '../adapters/tree-store.mysql';
import type { SnapshotWriter } from './tree-snapshot';

/** What the import's use cases (apply, fail, settle, read) need. */
export interface ChunkDeps {
  db: Pool;
  trees: TreeStore;
  cases: CaseStore;
  cache: TreeCache;
  tasks: TaskStore;
  events: TaskEvents;
  snapshots: SnapshotWriter;
  staging: ImportStaging;
  /** The engine: import shards run on it, and their tasks settle through it. */
  engine: EngineDeps<TreeWrite>;
}
