/**
 * Resolves after `ms` milliseconds, or as soon as `signal` aborts (never rejects).
 *
 * @param ms - delay
 * @param signal - cuts the wait short (e.g. the bridge stopping)
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits for all promises to settle, at most `timeoutMs`.
 *
 * @param promises - work to wait for (rejections are ignored)
 * @param timeoutMs - upper bound
 * @returns true if everything settled in time
 */
export async function settleWithin(
  promises: Iterable<Promise<unknown>>,
  timeoutMs: number,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([Promise.allSettled([...promises]).then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
