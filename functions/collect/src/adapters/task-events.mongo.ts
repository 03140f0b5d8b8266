import { randomBytes } from 'node:crypto';
import { logger } from '@collect/common';
import type { EventLog, TaskEventEntry } from '@collect/core';
import type { Db } from 'mongodb';
import { MONGO } from '../mongo-collections';

let seq = 0;
const processTag = randomBytes(3).toString('hex');

/** Sortable event ids: time (ms), then this process's sequence, then the process. */
const eventId = (at: Date): string =>
  `${String(at.getTime()).padStart(15, '0')}.${String(seq++ % 1_000_000).padStart(6, '0')}.${processTag}`;

export interface TaskEvent {
  taskId: string;
  shardNo?: number | undefined;
  level: 'info' | 'warn' | 'error';
  /** Stable kind (e.g. `shard.paused`); `task.log` when the writer gave none. */
  type?: string;
  message: string;
  data?: Record<string, unknown> | undefined;
}

export interface StoredTaskEvent extends TaskEvent {
  id: string;
  at: Date;
}

/**
 * Task and shard log lines in MongoDB (`task_event`, TTL-indexed), in order of their ids (time
 * in ms, then insertion). Logging never fails the work it describes: a write error is reported to the
 * process log instead.
 */
export class TaskEvents implements EventLog {
  constructor(private readonly db: Db) {}

  async record(e: TaskEvent | TaskEventEntry): Promise<void> {
    try {
      const at = new Date();
      await this.db
        .collection<{ _id: string } & Record<string, unknown>>(MONGO.taskEvent)
        .insertOne({ _id: eventId(at), type: 'task.log', ...e, at });
    } catch (err) {
      logger().warn({ err, event: e }, 'could not record task event');
    }
  }

  /** Events of a task (of one shard), after the event id `after`, oldest first. */
  async list(
    taskId: string,
    opts: { shardNo?: number; after?: string; limit?: number } = {},
  ): Promise<StoredTaskEvent[]> {
    const filter: Record<string, unknown> = { taskId };
    if (opts.shardNo !== undefined) filter.shardNo = opts.shardNo;
    if (opts.after !== undefined) filter._id = { $gt: opts.after };
    const docs = await this.db
      .collection<{ _id: string }>(MONGO.taskEvent)
      .find(filter)
      .sort({ _id: 1 })
      .limit(opts.limit ?? 1000)
      .toArray();
    return docs.map(({ _id, ...d }) => ({ id: String(_id), ...(d as unknown as TaskEvent & { at: Date }) }));
  }
}
