/**
 * Local RabbitMQ bridge: serverless-offline ignores `rabbitmq` events, so this process consumes
 * their queues and invokes the functions through serverless-offline's Lambda Invoke API, like the
 * Amazon MQ event source mapping does on AWS.
 *
 *   npx tsx plugins/offline-rabbitmq/src/main.ts        (or: npm run bridge)
 *
 * Needs `serverless offline start` (Lambda API) and the queues (the project's setup command); it
 * waits for both at start (BRIDGE_QUEUE_WAIT_MS).
 *
 * Environment (all optional):
 *   AMQP_URL                     broker URL; default amqp://guest:guest@127.0.0.1:5672. An event's
 *                                `virtualHost` replaces the URL's vhost.
 *   LAMBDA_PORT                  serverless-offline lambdaPort; default 3002. Invokes go to
 *                                http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/<name>/invocations
 *   STAGE                        stage for `serverless print --stage` and function names
 *                                (<service>-<stage>-<key>); default: the service's (dev).
 *   BRIDGE_CONCURRENCY_<FN>      max invocations in flight for function key <FN> upper-cased
 *                                (e.g. BRIDGE_CONCURRENCY_IMPORTCHUNK); default its
 *                                reservedConcurrency, else 1 (AWS's per-mapping default).
 *   BRIDGE_INVOKE_TIMEOUT_MS     per-invocation timeout; default the function's timeout (or
 *                                provider.timeout) + 5000 ms, else 900000.
 *   BRIDGE_QUEUE_WAIT_MS         how long to wait at start for the Lambda API, the broker and each
 *                                queue (checked every 500 ms); default 30000.
 *   BRIDGE_RETRY_DELAY_MS        pause before a failed batch is requeued (its slot stays busy), so a
 *                                failing function does not spin through its delivery limit;
 *                                default 1000. A failure is an answer from the Lambda API (function
 *                                error or timeout, non-200 status) or BRIDGE_INVOKE_TIMEOUT_MS
 *                                elapsing: each costs one of the message's deliveries.
 *   BRIDGE_UNAVAILABLE_MAX_DELAY_MS
 *                                longest pause between invocations of a batch while the Lambda API
 *                                is unreachable (connection refused or reset, no HTTP answer:
 *                                serverless-offline down or restarting); default 5000. Such a batch
 *                                is not requeued: it keeps its slot and is re-invoked (pauses from
 *                                250 ms, doubling up to this) until the API answers, so a restart
 *                                does not use up deliveries (as on AWS). On SIGTERM it is requeued.
 *   BRIDGE_SHUTDOWN_TIMEOUT_MS   on SIGTERM/SIGINT, how long to wait for invocations in flight;
 *                                default 30000. Unfinished messages return to their queue.
 *   BRIDGE_CONFIG_SOURCE         auto | print | yaml; default auto = `serverless print --format
 *                                json`, falling back to the built-in serverless.yml resolver.
 *   BRIDGE_SERVICE_DIR           directory of serverless.yml; default the working directory.
 *
 * Logs: `[bridge] …` progress lines on stdout; failures as one JSON line each on stderr
 * (queue, function, messageId, deliveryCount, error); while the Lambda API is unreachable, one
 * JSON line per batch and retry round (messageIds, deliveryCounts, attempt, retryInMs, error).
 */
import { loadServiceConfig } from './config-loader';
import { consoleLogger } from './log';
import { runBridge } from './run';
import { readBridgeSettings } from './settings';

async function main(): Promise<void> {
  const settings = readBridgeSettings(process.env);
  const loaded = await loadServiceConfig({
    serviceDir: settings.serviceDir,
    stage: settings.stage,
    source: settings.configSource,
    env: process.env,
    onFallback: (reason) =>
      consoleLogger.error({ msg: 'serverless print failed; using the yaml resolver', reason }),
  });
  consoleLogger.info(`config via ${loaded.via}`);
  const run = await runBridge(loaded.config, settings, process.env);
  if (!run) return;

  let signalled = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    // A second signal means "now": skip the drain (unacked messages return to the queue anyway).
    if (signalled) process.exit(1);
    signalled = true;
    consoleLogger.info(
      `${signal}: stopping (waiting up to ${settings.shutdownTimeoutMs} ms for invocations)`,
    );
    run.stop(settings.shutdownTimeoutMs).then(
      () => {
        consoleLogger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        consoleLogger.error({ msg: 'shutdown failed', error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`[bridge] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
