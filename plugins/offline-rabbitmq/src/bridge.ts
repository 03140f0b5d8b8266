import { ConcurrencyGate } from './concurrency-gate';
import { createHttpInvoker, type Invoke, waitForInvokeApi } from './invoker';
import { type BridgeLogger, consoleLogger } from './log';
import { QueueConsumer } from './queue-consumer';
import type { BridgeFunction } from './service-config';

/** Settings of a bridge run. Only `functions`, `amqpUrl` and `invokeBaseUrl` are required. */
export interface BridgeOptions {
  /** Targets, usually from `extractBridgeFunctions`. */
  functions: BridgeFunction[];
  amqpUrl: string;
  /** Base of the Lambda Invoke API, e.g. `http://127.0.0.1:3002`. */
  invokeBaseUrl: string;
  /** Replaces the HTTP invoker (the URL is then unused). */
  invoke?: Invoke;
  logger?: BridgeLogger;
  /** Wait for the Lambda API, the broker and the queues at start (default 30000). */
  queueWaitMs?: number;
  /** Pause between queue checks (default 500). */
  queueRetryMs?: number;
  /** Pause before requeueing a failed batch (default 1000). */
  retryDelayMs?: number;
  /**
   * While the Lambda API is unreachable, first and maximum pause (doubling) before a batch is
   * invoked again (defaults 250 and 5000); the batch is not requeued meanwhile.
   */
  unavailableMinDelayMs?: number;
  unavailableMaxDelayMs?: number;
  /**
   * The runtime limits by function key to start with (read just before consuming begins), so a
   * function held at 0 by a flow limit runs nothing, even for a moment, after a restart.
   */
  limits?: () => ReadonlyMap<string, number>;
  /** Reconnect backoff bounds (defaults 500 and 30000). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** A started bridge. */
export interface RunningBridge {
  /** One line: each function ← queue, concurrency, batch size. */
  readonly summary: string;
  /** Invocations in flight, per function name. */
  inFlight(): Record<string, number>;
  /** The concurrency limit in force per function name. */
  limits(): Record<string, number>;
  /**
   * Applies runtime limits by function key (`runShardTestrail1`); a function without one goes
   * back to its own `reservedConcurrency`.
   */
  setLimits(limits: ReadonlyMap<string, number>): void;
  /**
   * Stops consuming, waits up to `timeoutMs` (default 30000) for invocations in flight, closes.
   * Idempotent.
   */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Starts consuming every queue of every function and invoking the functions, like the AWS event
 * source mapping does for `rabbitmq` events.
 *
 * @param options - targets, broker, invoke endpoint
 * @throws if a queue (or the broker) is still missing after `queueWaitMs`; nothing is left running
 */
export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const logger = options.logger ?? consoleLogger;
  const invoke = options.invoke ?? createHttpInvoker(options.invokeBaseUrl);
  const gates = new Map<string, ConcurrencyGate>();
  const consumers = options.functions.flatMap((fn) => {
    const gate = new ConcurrencyGate(fn.concurrency);
    gates.set(fn.functionName, gate);
    return fn.sources.map(
      (source) =>
        new QueueConsumer({
          fn,
          source,
          gate,
          invoke,
          logger,
          amqpUrl: options.amqpUrl,
          queueWaitMs: options.queueWaitMs ?? 30_000,
          queueRetryMs: options.queueRetryMs ?? 500,
          retryDelayMs: options.retryDelayMs ?? 1000,
          unavailableMinDelayMs: options.unavailableMinDelayMs ?? 250,
          unavailableMaxDelayMs: options.unavailableMaxDelayMs ?? 5000,
          reconnectMinMs: options.reconnectMinMs ?? 500,
          reconnectMaxMs: options.reconnectMaxMs ?? 30_000,
        }),
    );
  });

  const byKey = new Map(options.functions.map((fn) => [fn.functionKey, gates.get(fn.functionName)]));
  const setLimits = (limits: ReadonlyMap<string, number>): void => {
    for (const [key, gate] of byKey) {
      const limit = limits.get(key) ?? gate?.configured;
      if (gate && limit !== undefined && limit !== gate.limit) {
        gate.setLimit(limit);
        logger.info(`${key}: concurrency ${limit}${limits.has(key) ? ' (flow limit)' : ''}`);
      }
    }
  };

  let stopping: Promise<void> | null = null;
  const stop = (timeoutMs = 30_000): Promise<void> => {
    stopping ??= Promise.all(consumers.map((c) => c.stop(timeoutMs))).then(() => undefined);
    return stopping;
  };

  // Consume only once invocations can succeed (see waitForInvokeApi); a custom invoker is ready.
  if (!options.invoke && consumers.length > 0) {
    await waitForInvokeApi(options.invokeBaseUrl, options.queueWaitMs ?? 30_000, options.queueRetryMs ?? 500);
  }
  if (options.limits) setLimits(options.limits());
  const started = await Promise.allSettled(consumers.map((c) => c.start()));
  const failures = started.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
  if (failures.length > 0) {
    await stop(0);
    const messages = failures.map((e: unknown) => (e instanceof Error ? e.message : String(e)));
    throw new Error(`bridge failed to start:\n  ${messages.join('\n  ')}`);
  }

  const summary = describeTargets(options.functions, consumers, gates);
  logger.info(summary);
  return {
    summary,
    inFlight: () => Object.fromEntries([...gates].map(([name, gate]) => [name, gate.inFlight])),
    limits: () => Object.fromEntries([...gates].map(([name, gate]) => [name, gate.limit])),
    setLimits,
    stop,
  };
}

function describeTargets(
  functions: BridgeFunction[],
  consumers: QueueConsumer[],
  gates: ReadonlyMap<string, ConcurrencyGate>,
): string {
  if (functions.length === 0) return 'no rabbitmq events found: nothing to bridge';
  let i = 0;
  const parts = functions.map((fn) => {
    const queues = fn.sources.map((s) => {
      const vhost = consumers[i++]?.vhost ?? '/';
      return `${s.queue}${vhost === '/' ? '' : ` (vhost ${vhost})`} batch=${s.batchSize}`;
    });
    // The limit in force: a flow limit read at start replaces the declared one.
    const limit = gates.get(fn.functionName)?.limit ?? fn.concurrency;
    const declared = limit === fn.concurrency ? '' : ` (flow limit; reserved ${fn.concurrency})`;
    return `${fn.functionName} ← ${queues.join(', ')} concurrency=${limit}${declared}`;
  });
  return `consuming: ${parts.join('; ')}`;
}
