/**
 * Counts invocations in flight for one function and tells its queue consumers when a slot frees.
 *
 * One gate per function, shared by all of that function's `rabbitmq` events: `reservedConcurrency`
 * bounds the function, not each queue.
 */
export class ConcurrencyGate {
  /** The limit the function declares (`reservedConcurrency`, or its override). */
  readonly configured: number;
  #limit: number;
  #inFlight = 0;
  readonly #listeners = new Set<() => void>();
  readonly #limitListeners = new Set<(limit: number) => void>();

  /** @param limit - maximum concurrent invocations, at least 1 */
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`concurrency must be an integer >= 1, got ${limit}`);
    this.configured = limit;
    this.#limit = limit;
  }

  /** The limit in force now (a flow limit `function:{name}` changes it at runtime). */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Changes the limit at runtime (0 holds every new invocation). Invocations in flight finish;
   * a lower limit only stops new ones, a higher one wakes the consumers to start more at once.
   */
  setLimit(limit: number): void {
    if (!Number.isInteger(limit) || limit < 0)
      throw new RangeError(`concurrency must be an integer >= 0, got ${limit}`);
    if (limit === this.#limit) return;
    const raised = limit > this.#limit;
    this.#limit = limit;
    for (const listener of this.#limitListeners) listener(limit);
    if (raised) for (const listener of this.#listeners) listener();
  }

  /**
   * Registers a callback run when the limit changes (a consumer sizes its prefetch to it).
   *
   * @returns a function that unsubscribes it
   */
  onLimitChange(listener: (limit: number) => void): () => void {
    this.#limitListeners.add(listener);
    return () => this.#limitListeners.delete(listener);
  }

  /** Invocations currently holding a slot. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes a slot if one is free; never waits, so callers stay synchronous and cannot overshoot. */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.#limit) return false;
    this.#inFlight += 1;
    return true;
  }

  /** Frees a slot and wakes every subscriber so buffered messages are dispatched (if one is free). */
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
