import { CollectError, redact } from '@collect/core';

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

/** What a GET of a source needs besides its URL. */
export interface GetOptions {
  headers: Record<string, string>;
  timeoutMs: number;
  /** Larger answers fail the shard (a source must page): the worker never holds more. */
  maxBytes: number;
}

/**
 * The credentials `headers` carry, in every form a source could echo back in an error body:
 * each header value, the token after `Basic` / `Bearer`, and a Basic token decoded (`user:key`)
 * with its key.
 */
export function credentialsIn(headers: Record<string, string>): string[] {
  const out: string[] = [];
  for (const value of Object.values(headers)) {
    out.push(value);
    const m = /^(Basic|Bearer)\s+(.+)$/i.exec(value);
    if (!m?.[2]) continue;
    out.push(m[2]);
    if (m[1]?.toLowerCase() === 'basic') {
      const decoded = Buffer.from(m[2], 'base64').toString('utf8');
      out.push(decoded, decoded.slice(decoded.indexOf(':') + 1));
    }
  }
  return out.filter((s) => s.length >= 4);
}

/**
 * GETs JSON. Network failures, timeouts and bodies that are cut short or not JSON are
 * retryable; statuses are classified by `statusError`; an answer over `maxBytes` fails the
 * shard. `what` names the request in errors: it must not carry credentials, and whatever of the
 * request's credentials the source echoes in an error body is masked.
 */
export async function getJson(source: string, url: string, what: string, opts: GetOptions): Promise<unknown> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      headers: { accept: 'application/json', ...opts.headers },
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    text = await readCapped(
      res,
      opts.maxBytes,
      () => `${source} answered more than ${opts.maxBytes} bytes to ${what}`,
    );
  } catch (err) {
    if (err instanceof CollectError) throw err;
    const reason =
      err instanceof Error && err.name === 'TimeoutError'
        ? `no answer within ${opts.timeoutMs} ms`
        : describe(err);
    throw new CollectError('retryable', `${source} request ${what} failed: ${reason}`, { cause: err });
  }
  if (!res.ok)
    throw statusError(
      source,
      what,
      res.status,
      res.headers.get('retry-after'),
      redact(text, credentialsIn(opts.headers)),
    );
  try {
    return JSON.parse(text);
  } catch {
    throw new CollectError('retryable', `${source} sent a body that is not JSON (cut short?) for ${what}`);
  }
}

/** The body as text, refusing (before reading it all) one longer than `maxBytes`. */
async function readCapped(res: Response, maxBytes: number, tooLarge: () => string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new CollectError('shard-fatal', tooLarge());
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new CollectError('shard-fatal', tooLarge());
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
