import type { Checkpoint, CommitOutcome, PageStore, Task } from '@collect/core';
import type { ImportPage } from '../schemas';
import { PUSH_COLLECTOR } from './engine-tasks.mysql';
import type { ImportPageStore } from './import-pages';
import type { TreePageStore, TreeRecord } from './tree-pages';

export type TreeWrite = TreeRecord | ImportPage;

/** One page store for the engine: pushed import chunks to the import's, collected records to the tree's. */
export class TreePageStores implements PageStore<TreeWrite> {
  constructor(
    private readonly collected: TreePageStore,
    private readonly pushed: ImportPageStore,
  ) {}

  private of(task: Task): PageStore<TreeWrite> {
    return (task.collector === PUSH_COLLECTOR ? this.pushed : this.collected) as PageStore<TreeWrite>;
  }

  prepare(task: Task, records: TreeWrite[]): Promise<void> {
    return this.of(task).prepare(task, records);
  }

  commit(
    task: Task,
    shard: { shardNo: number; epoch: number },
    records: TreeWrite[],
    checkpoint: Checkpoint,
  ): Promise<CommitOutcome> {
    return this.of(task).commit(task, shard, records, checkpoint);
  }

  committed(task: Task): Promise<void> {
    return this.of(task).committed(task);
  }

  writePlanned(task: Task, records: TreeWrite[]): Promise<void> {
    return this.of(task).writePlanned(task, records);
  }
}
