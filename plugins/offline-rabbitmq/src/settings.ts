import { resolve } from 'node:path';
import type { ConfigSource } from './config-loader';
import { parseIntSetting } from './service-config';

/** Process-level settings of the bridge, read from the environment (see main.ts for the list). */
export interface BridgeSettings {
  amqpUrl: string;
  invokeBaseUrl: string;
  stage: string | undefined;
  queueWaitMs: number;
  shutdownTimeoutMs: number;
  retryDelayMs: number;
  unavailableMaxDelayMs: number;
  configSource: ConfigSource;
  serviceDir: string;
}

/**
 * Reads the bridge's settings, applying defaults and rejecting malformed numbers early (a typo in
 * an env var should fail at start, not as a hang later).
 *
 * @param env - usually `process.env`
 */
export function readBridgeSettings(env: Record<string, string | undefined>): BridgeSettings {
  const source = env.BRIDGE_CONFIG_SOURCE || 'auto';
  if (source !== 'auto' && source !== 'print' && source !== 'yaml') {
    throw new Error(`BRIDGE_CONFIG_SOURCE must be auto, print or yaml, got ${JSON.stringify(source)}`);
  }
  const port = parseIntSetting(env.LAMBDA_PORT || '3002', 'LAMBDA_PORT');
  return {
    amqpUrl: env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672',
    invokeBaseUrl: `http://127.0.0.1:${port}`,
    stage: env.STAGE || undefined,
    queueWaitMs: parseIntSetting(env.BRIDGE_QUEUE_WAIT_MS || '30000', 'BRIDGE_QUEUE_WAIT_MS', 0),
    shutdownTimeoutMs: parseIntSetting(
      env.BRIDGE_SHUTDOWN_TIMEOUT_MS || '30000',
      'BRIDGE_SHUTDOWN_TIMEOUT_MS',
      0,
    ),
    retryDelayMs: parseIntSetting(env.BRIDGE_RETRY_DELAY_MS || '1000', 'BRIDGE_RETRY_DELAY_MS', 0),
    unavailableMaxDelayMs: parseIntSetting(
      env.BRIDGE_UNAVAILABLE_MAX_DELAY_MS || '5000',
      'BRIDGE_UNAVAILABLE_MAX_DELAY_MS',
    ),
    configSource: source,
    // Like the serverless CLI: the service is where it runs, unless told.
    serviceDir: resolve(env.BRIDGE_SERVICE_DIR || process.cwd()),
  };
}
