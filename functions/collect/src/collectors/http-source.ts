import { CollectError } from '@collect/core';

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const s = header.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * What an HTTP status means for the engine: 429 (and 503 with Retry-After) slow down without an
 * attempt spent; other 5xx and 408 come back with backoff; 401/403 reject the credentials (the
 * whole task fails); any other 4xx (400, 404, …) is wrong for this shard.
 */
export function statusError(
  source: string,
  what: string,
  status: number,
  retryAfter: string | null,
  body: string,
) {
  const wait = retryAfterMs(retryAfter);
  const detail = body.slice(0, 300).replace(/\s+/g, ' ').trim();
  const message = `${source} answered ${status} to ${what}${detail ? `: ${detail}` : ''}`;
  if (status === 429 || (status === 503 && wait !== undefined))
    return new CollectError('rate-limited', message, {
      status,
      ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    });
  if (status === 401 || status === 403)
    return new CollectError('task-fatal', `credentials rejected: ${message}`, { status });
  if (status >= 500 || status === 408) return new CollectError('retryable', message, { status });
  return new CollectError('shard-fatal', message, { status });
}

/**
 * GETs JSON. Network failures, timeouts and bodies that are cut short or not JSON are
 * retryable; statuses are classified by `statusError`. `what` names the request in errors: it
 * must not carry credentials.
 */
export async function getJson(
  source: string,
  url: string,
  what: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<unknown> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      headers: { accept: 'application/json', ...headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    const reason =
      err instanceof Error && err.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : describe(err);
    throw new CollectError('retryable', `${source} request ${what} failed: ${reason}`, { cause: err });
  }
  if (!res.ok) throw statusError(source, what, res.status, res.headers.get('retry-after'), text);
  try {
    return JSON.parse(text);
  } catch {
    throw new CollectError('retryable', `${source} sent a body that is not JSON (cut short?) for ${what}`);
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
