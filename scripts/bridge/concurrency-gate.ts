/**
 * Counts invocations in flight for one function and tells its queue consumers when a slot frees.
 *
 * One gate per function, shared by all of that function's `rabbitmq` events: `reservedConcurrency`
 * bounds the function, not each queue.
 */
export class ConcurrencyGate {
  readonly limit: number;
  #inFlight = 0;
  readonly #listeners = new Set<() => void>();

  /** @param limit - maximum concurrent invocations, at least 1 */
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`concurrency must be an integer >= 1, got ${limit}`);
    this.limit = limit;
  }

  /** Invocations currently holding a slot. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes a slot if one is free; never waits, so callers stay synchronous and cannot overshoot. */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.limit) return false;
    this.#inFlight += 1;
    return true;
  }

  /** Frees a slot and wakes every subscriber so buffered messages are dispatched. */
  release(): void {
    if (this.#inFlight === 0) throw new Error('ConcurrencyGate.release without acquire');
    this.#inFlight -= 1;
    for (const listener of this.#listeners) listener();
  }

  /**
   * Registers a callback run after each release.
   *
   * @returns a function that unsubscribes it
   */
  onRelease(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
