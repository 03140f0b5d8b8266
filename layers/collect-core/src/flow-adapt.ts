/**
 * Adaptive rates (AIMD, as TCP does it): a source that answers 429 or 503 gets its rate halved
 * (multiplicative decrease); every page it then answers well adds a little back (additive
 * increase), never above its configured rate. Once back at the configured rate (or, without one,
 * at ADAPT_CEILING) the adaptation ends and the configured limit alone applies. Only `host:` keys
 * adapt: the source is what pushes back.
 */
export const ADAPT_START = 10; // requests a second assumed for a source without a configured rate
export const ADAPT_MIN = 0.2;
export const ADAPT_STEP = 0.5;
export const ADAPT_CEILING = 50;

export type AdaptSignal = 'slow-down' | 'ok';

export const adapts = (key: string): boolean => key.startsWith('host:');

/**
 * The adapted rate after `signal`, from the adapted rate now (undefined: none) and the key's
 * configured rate; `undefined` when the key is not (or no longer) adapted.
 */
export function adaptRate(
  adapted: number | undefined,
  configured: number | undefined,
  signal: AdaptSignal,
): number | undefined {
  if (signal === 'slow-down') return Math.max(ADAPT_MIN, (adapted ?? configured ?? ADAPT_START) / 2);
  if (adapted === undefined) return undefined;
  const next = adapted + ADAPT_STEP;
  return next >= (configured ?? ADAPT_CEILING) ? undefined : next;
}

/** The rate in force: the lower of the configured and the adapted one. */
export const effectiveRate = (configured: number | undefined, adapted: number | undefined) =>
  configured === undefined ? adapted : adapted === undefined ? configured : Math.min(configured, adapted);
