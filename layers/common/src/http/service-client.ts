import { HttpError } from '../errors';
import { callSignature, INTERNAL_SIGNATURE_HEADER } from './internal-call';

export interface ServiceAnswer {
  status: number;
  body: Record<string, unknown>;
  /** Seconds, from the answer's Retry-After (a 429 or 503 says when to come back). */
  retryAfterSeconds?: number;
}

/**
 * Calls another service's public API as `tenantId` (the services talk through their APIs, never
 * their code). No answer within `timeoutMs` is a `503`; the answer, whatever its status, is returned.
 */
export async function callService(
  service: { name: string; baseUrl: string; timeoutMs: number; signingKey: string },
  tenantId: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ServiceAnswer> {
  let res: Response;
  const text = body === undefined ? '' : JSON.stringify(body);
  try {
    res = await fetch(`${service.baseUrl.replace(/\/+$/, '')}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        'x-tenant-id': tenantId,
        // Signed: the callee may trust what only a service says (see internal-call.ts).
        [INTERNAL_SIGNATURE_HEADER]: callSignature(
          service.signingKey,
          tenantId,
          method,
          path.split('?')[0] ?? path,
          text,
        ),
      },
      ...(body === undefined ? {} : { body: text }),
      signal: AbortSignal.timeout(service.timeoutMs),
    });
  } catch (err) {
    throw new HttpError(503, 'UNAVAILABLE', `${service.name} did not answer: ${(err as Error).message}`);
  }
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  const retryAfter = Number(res.headers.get('retry-after') ?? Number.NaN);
  return Number.isFinite(retryAfter) && retryAfter >= 0
    ? { status: res.status, body: answer, retryAfterSeconds: retryAfter }
    : { status: res.status, body: answer };
}

/**
 * Another service's refusal, passed on as it answered (its status, code, message, details and
 * Retry-After).
 */
export function refusalOf(service: string, answer: ServiceAnswer): HttpError {
  const error = (answer.body.error ?? {}) as { code?: string; message?: string; details?: unknown };
  return new HttpError(
    answer.status >= 400 && answer.status < 600 ? answer.status : 502,
    error.code ?? 'UPSTREAM',
    error.message ?? `${service} answered ${answer.status}`,
    error.details,
    answer.retryAfterSeconds === undefined ? undefined : { retryAfterSeconds: answer.retryAfterSeconds },
  );
}
