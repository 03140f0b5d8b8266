import { z } from 'zod';
import type { ChainSteps } from '../adapters/chain.mysql';
import { dependantsOf } from '../domain/dag';
import type { TaskStarter } from '../ports';
import { type JobDeps, triggerJob } from './jobs';

/** What collect announces when a job's run ends (queue `task-finished`). */
export const taskFinishedSchema = z.object({
  taskId: z.string().uuid(),
  tenantId: z.string().min(1).max(64),
  state: z.enum(['COMPLETED', 'PARTIALLY_COMPLETED', 'FAILED', 'STOPPED']),
  jobId: z.string().uuid(),
  jobVersion: z.number().int().positive(),
  chainId: z.string().uuid(),
});
export type TaskFinished = z.infer<typeof taskFinishedSchema>;

/**
 * A job's run ended: the jobs that depend on it start their runs in the same chain (trigger
 * `upstream`) if it COMPLETED; otherwise nothing starts downstream, and each dependant records
 * why. Heard twice, the same end changes nothing (one step per upstream task and dependant).
 */
export async function onTaskFinished(
  deps: JobDeps & { starter: TaskStarter; chain: ChainSteps },
  e: TaskFinished,
): Promise<{ triggered: string[]; held: string[] }> {
  const dependants = dependantsOf(await deps.jobs.edges(e.tenantId), e.jobId);
  const triggered: string[] = [];
  const held: string[] = [];
  for (const jobId of dependants) {
    if (
      !(await deps.chain.begin({ upstreamTaskId: e.taskId, jobId, tenantId: e.tenantId, chainId: e.chainId }))
    )
      continue;
    if (e.state !== 'COMPLETED') {
      await deps.chain.end(e.taskId, jobId, { reason: `upstream task ${e.taskId} ended ${e.state}` });
      held.push(jobId);
      continue;
    }
    try {
      const { taskId } = await triggerJob(
        deps,
        e.tenantId,
        jobId,
        {},
        {
          trigger: { kind: 'upstream', taskId: e.taskId },
          chainId: e.chainId,
        },
      );
      await deps.chain.end(e.taskId, jobId, { taskId });
      triggered.push(taskId);
    } catch (err) {
      await deps.chain.end(e.taskId, jobId, { reason: `its run did not start: ${describe(err)}` });
      held.push(jobId);
    }
  }
  return { triggered, held };
}

/** An error as a reason: its message and, for a refusal, each problem it lists. */
function describe(err: unknown): string {
  const { message, details } = err as { message?: string; details?: unknown };
  const problems = Array.isArray(details)
    ? details.map((d: { path?: string; message?: string }) => `${d.path || 'body'}: ${d.message}`)
    : [];
  return [message ?? String(err), ...problems].join('; ');
}
