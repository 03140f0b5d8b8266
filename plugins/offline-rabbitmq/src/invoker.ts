/**
 * Outcome of one synchronous invocation:
 * - `ok: true`: the function ran and returned normally;
 * - `ok: false, unavailable: false`: the Lambda API answered with a failure (function error, its
 *   timeout, a non-200 status), or the bridge's own timeout elapsed with no answer (the function
 *   may be stuck). Counts against the message: the consumer nacks it (requeue);
 * - `ok: false, unavailable: true`: the Lambda API could not be reached or gave no HTTP answer
 *   (serverless-offline down or restarting). Does not count against the message: the consumer
 *   retries the invocation, like the event source mapping does while the function is unavailable.
 */
export type InvokeResult =
  | { ok: true; durationMs: number }
  | { ok: false; durationMs: number; error: string; unavailable: boolean };

/** Signature of the invoker, so consumers can be driven by something other than HTTP. */
export type Invoke = (functionName: string, event: unknown, timeoutMs: number) => Promise<InvokeResult>;

const MAX_ERROR_CHARS = 500;

/**
 * URL of the Lambda Invoke API for a function (what serverless-offline serves on its lambdaPort).
 *
 * @param baseUrl - e.g. `http://127.0.0.1:3002`
 * @param functionName - deployed name, e.g. `collect-dev-importChunk`
 */
export function invokeUrl(baseUrl: string, functionName: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`;
}

/**
 * Creates an invoker that calls the Lambda Invoke API (RequestResponse) at `baseUrl`.
 *
 * A call succeeds only on HTTP 200 without `X-Amz-Function-Error` and with a body that is not an
 * error payload. serverless-offline 14 answers a thrown Error or its own timeout with 200 +
 * `X-Amz-Function-Error: Unhandled` + `{errorMessage, errorType, trace}`. The payload check is a
 * second line of defence (a proxy that drops the header, a handler returning an error object).
 * A thrown non-Error (string, plain object) reaches us as a plain 200 result: undetectable.
 *
 * @param baseUrl - e.g. `http://127.0.0.1:3002`
 */
export function createHttpInvoker(baseUrl: string): Invoke {
  return async (functionName, event, timeoutMs) => {
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);
    try {
      const response = await fetch(invokeUrl(baseUrl, functionName), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'RequestResponse' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await response.text();
      const error = responseError(response.status, response.headers.get('x-amz-function-error'), body);
      return error === null
        ? { ok: true, durationMs: elapsed() }
        : { ok: false, durationMs: elapsed(), error, unavailable: false };
    } catch (err) {
      // Also reached when the connection drops after the headers, while the body is read: no
      // complete answer arrived, so it is "unavailable" too (the consumer re-invokes).
      return {
        ok: false,
        durationMs: elapsed(),
        error: fetchError(err, timeoutMs),
        unavailable: isLambdaApiUnavailable(err),
      };
    }
  };
}

/**
 * Decides whether an Invoke API response is a failure.
 *
 * @param status - HTTP status
 * @param functionError - value of the `X-Amz-Function-Error` header, if any
 * @param body - response body
 * @returns a description of the failure, or `null` for success
 */
export function responseError(status: number, functionError: string | null, body: string): string | null {
  const payload = errorPayload(body);
  if (status !== 200) return truncate(`HTTP ${status}: ${payload ?? body}`);
  if (functionError) return truncate(`${functionError}: ${payload ?? body}`);
  return payload === null ? null : truncate(payload);
}

/** `"<errorType>: <errorMessage>"` if the body is a Lambda error payload, else `null`. */
function errorPayload(body: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const p = parsed as Record<string, unknown>;
  if (typeof p.errorMessage === 'string') return `${String(p.errorType ?? 'Error')}: ${p.errorMessage}`;
  // serverless-offline's own errors (unknown function): {"Message": "...", "Type": "User"}
  if (typeof p.Message === 'string' && typeof p.Type === 'string') return p.Message;
  return null;
}

/** Error codes meaning "no connection to the Lambda API, or it dropped before a full answer". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'EAI_AGAIN',
  'UND_ERR_SOCKET', // "other side closed": the server closed the socket before answering
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);
const UNAVAILABLE_MESSAGES = /other side closed|socket hang up/i;

/**
 * Whether a fetch failure means the Lambda API is unreachable or vanished mid-request (no HTTP
 * answer), as opposed to an answer or a timeout. Looks through `cause` chains and
 * `AggregateError.errors` (undici nests the socket error under `TypeError: fetch failed`).
 *
 * A bare `fetch failed` without a cause counts as unavailable; one whose cause is something else
 * (undici's headers/body timeout, an unparsable response, a forbidden port) does not: retrying it
 * forever could hold a message forever, so it stays a counted failure as before. The bridge's own
 * timeout (an `AbortSignal` TimeoutError) is never "unavailable": the function may be stuck.
 *
 * @param err - what `fetch` (or reading the body) threw
 */
export function isLambdaApiUnavailable(err: unknown): boolean {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return false;
  if (err instanceof TypeError && err.message === 'fetch failed' && err.cause === undefined) return true;
  const seen = new Set<unknown>();
  const visit = (e: unknown): boolean => {
    if (typeof e !== 'object' || e === null || seen.has(e)) return false;
    seen.add(e);
    const { code, message, cause, errors } = e as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
      errors?: unknown;
    };
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message)) return true;
    if (Array.isArray(errors) && errors.some(visit)) return true;
    return visit(cause);
  };
  return visit(err);
}

function fetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `invocation timed out after ${timeoutMs} ms`;
  }
  if (err instanceof Error) {
    const cause = err.cause as NodeJS.ErrnoException | undefined;
    return truncate(cause?.code ? `${err.message}: ${cause.code} ${cause.message}` : err.message);
  }
  return truncate(String(err));
}

function truncate(text: string): string {
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}

/**
 * Waits until something answers HTTP at `baseUrl` (serverless-offline's Lambda port answers 404
 * on `/`). A wrong LAMBDA_PORT then fails the start with a clear message, instead of the
 * consumers holding every message while they retry an API that never comes (see InvokeResult).
 *
 * @param baseUrl - e.g. `http://127.0.0.1:3002`
 * @param timeoutMs - give up after this long
 * @param retryMs - pause between attempts
 * @throws if nothing answered in time
 */
export async function waitForInvokeApi(baseUrl: string, timeoutMs: number, retryMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(baseUrl, { signal: AbortSignal.timeout(Math.max(retryMs, 1000)) });
      await response.body?.cancel();
      return;
    } catch (err) {
      if (Date.now() + retryMs > deadline) {
        const why = fetchError(err, Math.max(retryMs, 1000));
        throw new Error(
          `Lambda Invoke API not reachable at ${baseUrl} (is serverless offline running?): ${why}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }
}
