import { callService, refusalOf } from '@collect/common';
import type { RunRequest, TaskStarter } from '../ports';

/** collect's `POST /api/tasks` over HTTP (locally serverless-offline; on AWS its API). */
export class HttpTaskStarter implements TaskStarter {
  private readonly service: { name: string; baseUrl: string; timeoutMs: number; signingKey: string };

  constructor(baseUrl: string, signingKey: string, timeoutMs = 10_000) {
    this.service = { name: 'the collection service', baseUrl, timeoutMs, signingKey };
  }

  async start(
    tenantId: string,
    run: RunRequest,
  ): Promise<{ taskId: string; collectorVersion?: string | null }> {
    const answer = await callService(this.service, tenantId, 'POST', '/api/tasks', run);
    if (answer.status === 202 && typeof answer.body.taskId === 'string')
      return {
        taskId: answer.body.taskId,
        ...(typeof answer.body.collectorVersion === 'string'
          ? { collectorVersion: answer.body.collectorVersion }
          : {}),
      };
    // Its own answer, passed on: the caller sees why collect refused the run.
    throw refusalOf(this.service.name, answer);
  }
}
