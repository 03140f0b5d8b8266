import { HttpError } from '@collect/common';
import type { RunRequest, TaskStarter } from '../ports';

/** collect's `POST /api/tasks` over HTTP (locally serverless-offline; on AWS its API). */
export class HttpTaskStarter implements TaskStarter {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async start(tenantId: string, run: RunRequest): Promise<{ taskId: string }> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl.replace(/\/+$/, '')}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-tenant-id': tenantId },
        body: JSON.stringify(run),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new HttpError(
        503,
        'UNAVAILABLE',
        `the collection service did not answer: ${(err as Error).message}`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as {
      taskId?: string;
      error?: { code?: string; message?: string; details?: unknown };
    };
    if (res.status === 202 && body.taskId) return { taskId: body.taskId };
    // Its own answer, passed on: the caller sees why collect refused the run.
    throw new HttpError(
      res.status >= 400 && res.status < 600 ? res.status : 502,
      body.error?.code ?? 'UPSTREAM',
      body.error?.message ?? `the collection service answered ${res.status}`,
      body.error?.details,
    );
  }
}
