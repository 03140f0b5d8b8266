import type { Pool, RowDataPacket } from 'mysql2/promise';

/** What happened downstream of a job's run: one step per (upstream task, dependant job). */
export class ChainSteps {
  constructor(private readonly db: Pool) {}

  /**
   * Takes the step; false when it was taken and settled already (the same announcement heard
   * again). A step still PENDING was taken by a consumer that did not finish it (it crashed, or
   * collect did not answer): it is taken again, and the trigger's key makes the retried start
   * get the task the first one may have started.
   */
  async begin(step: {
    upstreamTaskId: string;
    jobId: string;
    tenantId: string;
    chainId: string;
  }): Promise<boolean> {
    const [res] = await this.db.query(
      `INSERT IGNORE INTO register_chain_step (upstream_task_id, job_id, tenant_id, chain_id, outcome)
       VALUES (?, ?, ?, ?, 'PENDING')`,
      [step.upstreamTaskId, step.jobId, step.tenantId, step.chainId],
    );
    if ((res as { affectedRows: number }).affectedRows === 1) return true;
    const [rows] = await this.db.query<RowDataPacket[]>(
      'SELECT outcome FROM register_chain_step WHERE upstream_task_id = ? AND job_id = ?',
      [step.upstreamTaskId, step.jobId],
    );
    return rows[0]?.outcome === 'PENDING';
  }

  async end(
    upstreamTaskId: string,
    jobId: string,
    outcome: { taskId: string } | { reason: string },
  ): Promise<void> {
    await this.db.query(
      'UPDATE register_chain_step SET outcome = ?, task_id = ?, reason = ? WHERE upstream_task_id = ? AND job_id = ?',
      'taskId' in outcome
        ? ['TRIGGERED', outcome.taskId, null, upstreamTaskId, jobId]
        : ['NOT_TRIGGERED', null, outcome.reason, upstreamTaskId, jobId],
    );
  }

  /** The latest steps that concerned a job (its upstream runs' ends). */
  async ofJob(tenantId: string, jobId: string, limit = 20): Promise<RowDataPacket[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT upstream_task_id AS upstreamTaskId, chain_id AS chainId, outcome, task_id AS taskId, reason,
              created_at AS at FROM register_chain_step WHERE tenant_id = ? AND job_id = ?
        ORDER BY created_at DESC LIMIT ?`,
      [tenantId, jobId, limit],
    );
    return rows;
  }
}
