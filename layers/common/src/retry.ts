/**
 * Errors that mean "a store or broker is unreachable right now", not "this work is bad": worth
 * waiting out inside the invocation rather than spending one of the message's deliveries.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'ER_CON_COUNT_ERROR',
]);
const UNAVAILABLE_NAMES = new Set([
  'MongoNetworkError',
  'MongoServerSelectionError',
  'MongoNotConnectedError',
]);

export function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth += 1) {
    const { code, name, cause } = e as { code?: unknown; name?: unknown; cause?: unknown };
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    if (typeof name === 'string' && UNAVAILABLE_NAMES.has(name)) return true;
    if (
      typeof (e as { message?: unknown }).message === 'string' &&
      /Connection is closed|connect ECONNREFUSED|connect ETIMEDOUT|max retries per request/.test(
        (e as { message: string }).message,
      )
    )
      return true;
    e = cause;
  }
  return false;
}

/**
 * Runs `fn`; while it fails because a dependency is unavailable, waits (250 ms doubling to 5 s)
 * and runs it again, for at most `budgetMs`. Any other failure, or the budget spent, is thrown.
 * `fn` must be idempotent.
 */
export async function retryWhileUnavailable<T>(
  fn: () => Promise<T>,
  budgetMs: number,
  onRetry?: (err: unknown, attempt: number) => void,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 1, pause = 250; ; attempt += 1, pause = Math.min(pause * 2, 5000)) {
    try {
      return await fn();
    } catch (err) {
      if (!isUnavailable(err) || Date.now() + pause > deadline) throw err;
      onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
