/** Outcome of one synchronous invocation. */
export type InvokeResult =
  | { ok: true; durationMs: number }
  | { ok: false; durationMs: number; error: string };

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
        : { ok: false, durationMs: elapsed(), error };
    } catch (err) {
      return { ok: false, durationMs: elapsed(), error: fetchError(err, timeoutMs) };
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
 * on `/`). Started before serverless-offline, the bridge would otherwise spend every message's
 * delivery attempts on "connection refused" and dead-letter them.
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
