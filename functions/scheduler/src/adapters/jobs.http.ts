import { HttpError } from '@collect/common';
import type { Jobs, ScheduleTrigger } from '../ports';

/** The register's jobs over its HTTP API (locally serverless-offline; on AWS its API). */
export class HttpJobs implements Jobs {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 15_000,
  ) {}

  private async call(tenantId: string, method: string, path: string, body?: unknown) {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl.replace(/\/+$/, '')}${path}`, {
        method,
        headers: { 'content-type': 'application/json', 'x-tenant-id': tenantId },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new HttpError(503, 'UNAVAILABLE', `the register did not answer: ${(err as Error).message}`);
    }
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  }

  async exists(tenantId: string, jobId: string): Promise<boolean> {
    const r = await this.call(tenantId, 'GET', `/api/jobs/${jobId}`);
    if (r.status === 404) return false;
    if (r.status !== 200) throw new HttpError(502, 'UPSTREAM', `the register answered ${r.status}`);
    return r.body.enabled === true;
  }

  async trigger(tenantId: string, jobId: string, mode: string, trigger: ScheduleTrigger) {
    const r = await this.call(tenantId, 'POST', `/api/jobs/${jobId}/trigger`, { mode, trigger });
    if (r.status === 202 && typeof r.body.taskId === 'string') return { taskId: r.body.taskId };
    const error = (r.body.error ?? {}) as { code?: string; message?: string; details?: unknown };
    throw new HttpError(
      r.status,
      error.code ?? 'UPSTREAM',
      error.message ?? `the register answered ${r.status}`,
      error.details,
    );
  }
}
