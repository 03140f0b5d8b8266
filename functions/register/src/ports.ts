/** Where a run comes from, as the register tells collect. */
export type Trigger =
  | { kind: 'manual' }
  | { kind: 'schedule'; scheduleId: string; fireTime: string }
  | { kind: 'upstream'; taskId: string };

/** What the register asks collect to run: collect's `POST /api/tasks` body. */
export interface RunRequest {
  collector: string;
  collectorVersion: string;
  source: string;
  mode: 'FULL' | 'INCREMENTAL' | 'RANGE';
  settings: Record<string, unknown>;
  strategy?: Record<string, unknown>;
  range?: Record<string, unknown>;
  /** Where the run comes from; `triggerKey` makes it one run (collect starts one task per key). */
  origin: { jobId: string; jobVersion: number; chainId: string; trigger: Trigger; triggerKey: string };
}

/**
 * Starts runs in the collection service through its public contract (`POST /api/tasks`); the
 * register imports nothing of it. Its errors come back as they are (a 409 while the source is
 * busy, a 400 the register could not foresee).
 */
export interface TaskStarter {
  /** The task started (or, for a trigger key seen before, the one it started) and its version. */
  start(tenantId: string, run: RunRequest): Promise<{ taskId: string; collectorVersion?: string | null }>;
}

/** Tells the other services what became of jobs (the scheduler deletes a disabled job's schedules). */
export interface JobAnnouncer {
  disabled(tenantId: string, jobId: string): Promise<void>;
}
