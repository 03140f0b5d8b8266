/**
 * Resolves after `ms` milliseconds.
 *
 * @param ms - delay
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
