import type { BridgeLogger } from './log';
import { type BridgeRun, runBridge } from './run';
import { readBridgeSettings } from './settings';

/** The parts of the Serverless Framework's objects the plugin reads. */
interface ServerlessLike {
  service: {
    service: string;
    provider: Record<string, unknown>;
    functions: Record<string, unknown>;
    custom?: Record<string, unknown>;
  };
}

type CliOptions = Record<string, unknown>;

interface PluginUtils {
  log: { notice(message: string): void; error(message: string): void; info?(message: string): void };
}

/**
 * `custom.offlineRabbitmq`: `enabled` (default true), read after variables are resolved: `false`,
 * and the strings `false`, `0`, `no`, `off` and `` in any case (an environment variable's), turn it off.
 */
function enabled(custom: Record<string, unknown> | undefined): boolean {
  const value = (custom?.offlineRabbitmq as { enabled?: unknown } | undefined)?.enabled;
  if (value === undefined || value === true) return true;
  return !(value === false || ['false', '0', 'no', 'off', ''].includes(String(value).trim().toLowerCase()));
}

/**
 * serverless-offline plugin: `serverless offline start` consumes the queues of the functions'
 * `rabbitmq` events and invokes the functions through its own Lambda API, as the Amazon MQ event
 * source mapping does on AWS (serverless-offline itself ignores `rabbitmq` events, as it does
 * SQS, for which other plugins exist). List it after serverless-offline: its hooks run once the
 * Lambda API is up, and it drains before serverless-offline halts.
 *
 * The bridge's settings come from the environment as for the command (main.ts); the Lambda port
 * is serverless-offline's (`--lambdaPort`, else `custom.serverless-offline.lambdaPort`, else 3002).
 */
export class OfflineRabbitMqPlugin {
  readonly hooks: Record<string, () => Promise<void>>;
  /** The bridge started, with the settings it started with (the stop uses the same). */
  private running: { run: BridgeRun; shutdownTimeoutMs: number } | undefined;

  constructor(
    private readonly serverless: ServerlessLike,
    private readonly options: CliOptions,
    private readonly utils?: PluginUtils,
    /** Ends the process when the bridge cannot start (a test passes its own). */
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {
    this.hooks = {
      'offline:start:init': () => this.startOrExit(),
      // Before serverless-offline's own end, which exits the process.
      'before:offline:start:end': () => this.stop(),
    };
  }

  private logger(): BridgeLogger {
    const log = this.utils?.log;
    return {
      info: (message) =>
        log ? log.notice(`[bridge] ${message}`) : process.stdout.write(`[bridge] ${message}\n`),
      error: (record) =>
        log
          ? log.error(`[bridge] ${JSON.stringify(record)}`)
          : process.stderr.write(`${JSON.stringify({ level: 'error', ...record })}\n`),
    };
  }

  /**
   * A bridge that cannot start (broker or queues missing past BRIDGE_QUEUE_WAIT_MS) ends the
   * process with status 1. Throwing alone is not enough: the framework prints the error, but
   * serverless-offline's HTTP servers, already listening, keep the process alive, serving an API
   * whose queues nobody consumes.
   */
  private async startOrExit(): Promise<void> {
    try {
      await this.start();
    } catch (err) {
      this.logger().error({ msg: 'the bridge could not start; stopping', error: String(err) });
      process.exitCode = 1;
      this.exit(1);
      throw err;
    }
  }

  private async start(): Promise<void> {
    const { service } = this.serverless;
    if (!enabled(service.custom)) return;
    const offline = (service.custom?.['serverless-offline'] ?? {}) as Record<string, unknown>;
    const port = this.options.lambdaPort ?? offline.lambdaPort ?? 3002;
    const settings = readBridgeSettings({ ...process.env, LAMBDA_PORT: String(port) });
    const config = { service: service.service, provider: service.provider, functions: service.functions };
    const run = await runBridge(config, settings, process.env, this.logger());
    if (run) this.running = { run, shutdownTimeoutMs: settings.shutdownTimeoutMs };
  }

  private async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    if (!running) return;
    const inFlight = Object.values(running.run.bridge.inFlight()).reduce((a, n) => a + n, 0);
    this.logger().info(
      `stopping: ${inFlight} invocation(s) in flight, waiting up to ${running.shutdownTimeoutMs / 1000} s (BRIDGE_SHUTDOWN_TIMEOUT_MS)`,
    );
    await running.run.stop(running.shutdownTimeoutMs);
    this.logger().info('stopped');
  }
}
