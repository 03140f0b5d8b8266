import { type RunningBridge, startBridge } from './bridge';
import { type FlowWatcher, watchFunctionLimits } from './flow-watcher';
import { type BridgeLogger, consoleLogger, redactUrl } from './log';
import { extractBridgeFunctions, parseIntSetting } from './service-config';
import type { BridgeSettings } from './settings';

/** A bridge and the watcher of its runtime limits, stopped together. */
export interface BridgeRun {
  bridge: RunningBridge;
  stop(timeoutMs: number): Promise<void>;
}

/**
 * Starts the bridge for a resolved service definition, with the flow limits `function:{key}`
 * (PUT /api/flow/function:…) applied at runtime, as PutFunctionConcurrency changes a function's
 * reserved concurrency on AWS. Shared by the command (main.ts) and the serverless plugin.
 *
 * @returns undefined when the service has no enabled `rabbitmq` event
 */
export async function runBridge(
  config: unknown,
  settings: BridgeSettings,
  env: Record<string, string | undefined>,
  logger: BridgeLogger = consoleLogger,
): Promise<BridgeRun | undefined> {
  const functions = extractBridgeFunctions(config, { stage: settings.stage, env });
  if (functions.length === 0) {
    logger.info('no enabled rabbitmq events in the service definition: nothing to do');
    return undefined;
  }
  logger.info(`broker ${redactUrl(settings.amqpUrl)}; Lambda API ${settings.invokeBaseUrl}`);
  // The limits are read before consuming starts, and kept for the bridge until it is up.
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379/0';
  let bridge: RunningBridge | undefined;
  let latest: ReadonlyMap<string, number> = new Map();
  let unknown: () => void = () => undefined;
  const noneYet = new Promise<void>((resolve) => {
    unknown = resolve;
  });
  const watcher: FlowWatcher = watchFunctionLimits({
    redisUrl,
    prefix: env.REDIS_PREFIX ?? 'collect:',
    everyMs: parseIntSetting(env.BRIDGE_FLOW_CHECK_MS || '250', 'BRIDGE_FLOW_CHECK_MS', 10),
    apply: (limits) => {
      latest = limits;
      bridge?.setLimits(limits);
    },
    onUnknown: () => {
      // Fail closed: every function is held until the limits are published.
      latest = new Map(functions.map((fn) => [fn.functionKey, 0]));
      logger.error({
        msg: 'no flow limits published yet: every function is held until they are (npm run setup publishes them, and the platform again every minute)',
      });
      unknown();
    },
    onError: (err) =>
      logger.error({
        msg: bridge ? 'flow limits unreadable; keeping the current ones' : 'flow limits unreadable; waiting',
        error: String(err),
      }),
  });
  try {
    // Fail closed: a function held at 0 must not run because Redis could not say so.
    await firstReadWithin(Promise.race([watcher.firstRead, noneYet]), settings.queueWaitMs, redisUrl);
    bridge = await startBridge({
      limits: () => latest,
      functions,
      logger,
      amqpUrl: settings.amqpUrl,
      invokeBaseUrl: settings.invokeBaseUrl,
      queueWaitMs: settings.queueWaitMs,
      retryDelayMs: settings.retryDelayMs,
      unavailableMaxDelayMs: settings.unavailableMaxDelayMs,
    });
  } catch (err) {
    await watcher.stop();
    throw err;
  }
  // A change read while the bridge started.
  bridge.setLimits(latest);
  const started = bridge;
  return {
    bridge: started,
    stop: async (timeoutMs) => {
      await watcher.stop();
      await started.stop(timeoutMs);
    },
  };
}

/** Waits for Redis to answer about the limits, up to `waitMs` (BRIDGE_QUEUE_WAIT_MS). */
async function firstReadWithin(read: Promise<void>, waitMs: number, redisUrl: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `the flow limits could not be read from Redis at ${redactUrl(redisUrl)} within ${waitMs} ms (BRIDGE_QUEUE_WAIT_MS); the bridge does not consume without them`,
          ),
        ),
      waitMs,
    );
  });
  try {
    await Promise.race([read, late]);
  } finally {
    clearTimeout(timer);
  }
}
