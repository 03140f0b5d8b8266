/** Why a job's run starts: a schedule's fire. */
export interface ScheduleTrigger {
  kind: 'schedule';
  scheduleId: string;
  fireTime: string;
}

/**
 * The register's jobs, as the scheduler uses them: through the register's public API (it imports
 * nothing of it). `trigger` rejects with the register's (or collect's) answer when the run cannot
 * start (409 while the job's previous run still holds its source, say).
 */
export interface Jobs {
  exists(tenantId: string, jobId: string): Promise<boolean>;
  trigger(
    tenantId: string,
    jobId: string,
    mode: string,
    trigger: ScheduleTrigger,
  ): Promise<{ taskId: string }>;
}
