/**
 * @collect/offline-rabbitmq: runs the `rabbitmq` events of a serverless service locally. Use it
 * as a command (`src/main.ts`), as a serverless-offline plugin (`plugin.cjs`), or from code.
 */
export { type BridgeOptions, type RunningBridge, startBridge } from './bridge';
export { ConcurrencyGate } from './concurrency-gate';
export { type ConfigSource, type LoadedConfig, loadServiceConfig } from './config-loader';
export { buildRabbitMqEvent } from './event-builder';
export { type FlowWatcher, watchFunctionLimits } from './flow-watcher';
export { type BridgeLogger, consoleLogger, type LogRecord } from './log';
export { OfflineRabbitMqPlugin } from './plugin';
export { type BridgeRun, runBridge } from './run';
export { type BridgeFunction, extractBridgeFunctions, type QueueSource } from './service-config';
export { type BridgeSettings, readBridgeSettings } from './settings';
