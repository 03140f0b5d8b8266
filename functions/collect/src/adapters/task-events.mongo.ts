import { logger, MONGO } from '@collect/common';
import type { Db } from 'mongodb';

export interface TaskEvent {
  taskId: string;
  shardNo?: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  data?: Record<string, unknown>;
}

/**
 * Task and shard log lines in MongoDB (`task_event`, TTL-indexed). Logging never fails the work
 * it describes: a write error is reported to the process log instead.
 */
export class TaskEvents {
  constructor(private readonly db: Db) {}

  async record(e: TaskEvent): Promise<void> {
    try {
      await this.db.collection(MONGO.taskEvent).insertOne({ ...e, at: new Date() });
    } catch (err) {
      logger().warn({ err, event: e }, 'could not record task event');
    }
  }

  async list(taskId: string, limit = 1000): Promise<(TaskEvent & { at: Date })[]> {
    const docs = await this.db
      .collection(MONGO.taskEvent)
      .find({ taskId }, { projection: { _id: 0 } })
      .sort({ at: 1 })
      .limit(limit)
      .toArray();
    return docs as unknown as (TaskEvent & { at: Date })[];
  }
}
