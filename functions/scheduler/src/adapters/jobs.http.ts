import { callService, HttpError, refusalOf } from '@collect/common';
import type { Jobs, ScheduleTrigger } from '../ports';

/** The register's jobs over its HTTP API (locally serverless-offline; on AWS its API). */
export class HttpJobs implements Jobs {
  private readonly service: { name: string; baseUrl: string; timeoutMs: number; signingKey: string };

  constructor(baseUrl: string, signingKey: string, timeoutMs = 15_000) {
    this.service = { name: 'the register', baseUrl, timeoutMs, signingKey };
  }

  async exists(tenantId: string, jobId: string): Promise<boolean> {
    const answer = await callService(this.service, tenantId, 'GET', `/api/jobs/${jobId}`);
    if (answer.status === 404) return false;
    if (answer.status !== 200) throw new HttpError(502, 'UPSTREAM', `the register answered ${answer.status}`);
    return answer.body.enabled === true;
  }

  async trigger(tenantId: string, jobId: string, mode: string, trigger: ScheduleTrigger) {
    const answer = await callService(this.service, tenantId, 'POST', `/api/jobs/${jobId}/trigger`, {
      mode,
      trigger,
    });
    if (answer.status === 202 && typeof answer.body.taskId === 'string')
      return { taskId: answer.body.taskId };
    throw refusalOf(this.service.name, answer);
  }
}
