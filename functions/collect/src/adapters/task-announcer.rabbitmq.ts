import { publishConfirmed, type Topology } from '@collect/common';
import type { Task, TaskState } from '@collect/core';
import type { ConfirmChannel } from 'amqplib';
import type { Pool, RowDataPacket } from 'mysql2/promise';

/** What the register hears when a job's run ends (queue `task-finished`). */
export interface TaskFinished {
  taskId: string;
  tenantId: string;
  state: TaskState;
  jobId: string;
  jobVersion: number;
  chainId: string;
}

/**
 * Announces the end of a job's run to the register, at least once: published (confirmed), then
 * marked; a failure before the mark sends it again on the next settle, and the register takes a
 * second one as the same. Runs that no job started are not announced.
 */
export class TaskAnnouncer {
  constructor(
    private readonly db: Pool,
    private readonly channel: () => Promise<ConfirmChannel>,
    private readonly topology: Topology,
  ) {}

  async announce(task: Task, final: TaskState): Promise<void> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      'SELECT job_id, job_version, chain_id, announced_at FROM collect_task WHERE id = ?',
      [task.id],
    );
    const r = rows[0];
    if (!r?.job_id || r.announced_at) return;
    const event: TaskFinished = {
      taskId: task.id,
      tenantId: task.tenantId,
      state: final,
      jobId: r.job_id,
      jobVersion: r.job_version,
      chainId: r.chain_id,
    };
    await publishConfirmed(await this.channel(), this.topology.exchange, [
      {
        routingKey: 'task-finished',
        messageId: `task-finished/${task.id}`,
        body: Buffer.from(JSON.stringify(event)),
      },
    ]);
    await this.db.query('UPDATE collect_task SET announced_at = CURRENT_TIMESTAMP(3) WHERE id = ?', [
      task.id,
    ]);
  }
}
