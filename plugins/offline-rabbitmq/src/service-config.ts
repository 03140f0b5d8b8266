/** One `rabbitmq` event of a function: the queue the bridge consumes for it. */
export interface QueueSource {
  /** Broker ARN; becomes the event's `eventSourceArn`. */
  arn: string;
  queue: string;
  /** `virtualHost` of the event; `undefined` means the vhost of AMQP_URL. */
  virtualHost: string | undefined;
  /** Maximum messages per invocation (AWS default for Amazon MQ: 100). */
  batchSize: number;
}

/** A function with at least one enabled `rabbitmq` event. */
export interface BridgeFunction {
  /** Key under `functions:` in serverless.yml, e.g. `importChunk`. */
  functionKey: string;
  /** Deployed name serverless-offline registers, e.g. `collect-dev-importChunk`. */
  functionName: string;
  /** Maximum invocations in flight for the function, over all its queues. */
  concurrency: number;
  /** How long the bridge waits for one invocation before counting it as failed. */
  invokeTimeoutMs: number;
  sources: QueueSource[];
}

/** What, besides the service definition, decides the bridge's targets. */
export interface ExtractOptions {
  /** Stage for function names when the config has none (print output always has one). */
  stage?: string | undefined;
  /** Environment for BRIDGE_CONCURRENCY_<FN> and BRIDGE_INVOKE_TIMEOUT_MS. */
  env?: Record<string, string | undefined>;
}

const DEFAULT_BATCH_SIZE = 100;
/** AWS runs one environment per Amazon MQ event source mapping unless told otherwise. */
const DEFAULT_CONCURRENCY = 1;
/** Lambda's maximum timeout, used when the function declares none. */
const DEFAULT_INVOKE_TIMEOUT_MS = 900_000;
/** Margin over the function's own timeout so serverless-offline reports its timeout first. */
const TIMEOUT_MARGIN_MS = 5_000;

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Environment variable that overrides a function's concurrency: `BRIDGE_CONCURRENCY_` + the
 * function key upper-cased, other characters than A–Z/0–9 as `_` (importChunk → IMPORTCHUNK).
 *
 * @param functionKey - key under `functions:`
 */
export function concurrencyEnvName(functionKey: string): string {
  return `BRIDGE_CONCURRENCY_${functionKey.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Parses a positive integer setting, accepting numbers and numeric strings (resolved `${env:…}`
 * defaults stay strings when the yaml fallback is used).
 *
 * @param value - the raw value
 * @param what - name used in the error message
 * @param min - smallest accepted value
 */
export function parseIntSetting(value: unknown, what: string, min = 1): number {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\s*\d+\s*$/.test(value)
        ? Number(value)
        : Number.NaN;
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${what} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * The `functions:` of a service definition as a map: `serverless print` emits a map, the raw
 * yaml may hold a list of maps (one per included file).
 */
function functionMap(config: Obj): Obj {
  const fns = config.functions;
  if (Array.isArray(fns)) return Object.assign({}, ...fns.filter(isObj)) as Obj;
  return isObj(fns) ? fns : {};
}

function serviceName(config: Obj): string {
  const service = config.service;
  if (typeof service === 'string') return service;
  if (isObj(service) && typeof service.name === 'string') return service.name;
  throw new Error('service definition has no `service` name');
}

/**
 * Extracts the functions the bridge must drive from a resolved service definition (the output of
 * `serverless print --format json`, or the yaml resolved by `resolveServerlessYaml`).
 *
 * @param config - resolved service definition
 * @param options - stage and environment overrides
 * @returns one entry per function with at least one enabled `rabbitmq` event
 */
export function extractBridgeFunctions(config: unknown, options: ExtractOptions = {}): BridgeFunction[] {
  if (!isObj(config)) throw new Error('service definition is not an object');
  const env = options.env ?? {};
  const provider = isObj(config.provider) ? config.provider : {};
  const service = serviceName(config);
  const stage = typeof provider.stage === 'string' ? provider.stage : (options.stage ?? 'dev');
  const out: BridgeFunction[] = [];

  for (const [functionKey, fn] of Object.entries(functionMap(config))) {
    if (!isObj(fn) || !Array.isArray(fn.events)) continue;
    const sources = fn.events.flatMap((event, i) => {
      if (!isObj(event) || !isObj(event.rabbitmq)) return [];
      return parseSource(event.rabbitmq, `functions.${functionKey}.events[${i}].rabbitmq`);
    });
    if (sources.length === 0) continue;

    const envName = concurrencyEnvName(functionKey);
    const rawConcurrency = env[envName] ?? fn.reservedConcurrency ?? DEFAULT_CONCURRENCY;
    // reservedConcurrency 0 means "throttled": AWS never invokes such a function, neither do we.
    const concurrency = parseIntSetting(
      rawConcurrency,
      `${envName} / functions.${functionKey}.reservedConcurrency`,
      0,
    );
    if (concurrency === 0) continue;

    out.push({
      functionKey,
      functionName: typeof fn.name === 'string' ? fn.name : `${service}-${stage}-${functionKey}`,
      concurrency,
      invokeTimeoutMs: invokeTimeout(env.BRIDGE_INVOKE_TIMEOUT_MS, fn.timeout ?? provider.timeout),
      sources,
    });
  }
  return out;
}

function parseSource(event: Obj, where: string): QueueSource[] {
  if (event.enabled === false || event.enabled === 'false') return [];
  if (typeof event.arn !== 'string' || event.arn === '') throw new Error(`${where}.arn must be a string`);
  if (typeof event.queue !== 'string' || event.queue === '')
    throw new Error(`${where}.queue must be a string`);
  const virtualHost = event.virtualHost;
  if (virtualHost !== undefined && typeof virtualHost !== 'string')
    throw new Error(`${where}.virtualHost must be a string`);
  return [
    {
      arn: event.arn,
      queue: event.queue,
      virtualHost,
      batchSize:
        event.batchSize === undefined
          ? DEFAULT_BATCH_SIZE
          : parseIntSetting(event.batchSize, `${where}.batchSize`),
    },
  ];
}

function invokeTimeout(override: string | undefined, fnTimeoutSeconds: unknown): number {
  if (override !== undefined && override !== '') return parseIntSetting(override, 'BRIDGE_INVOKE_TIMEOUT_MS');
  if (fnTimeoutSeconds === undefined) return DEFAULT_INVOKE_TIMEOUT_MS;
  return parseIntSetting(fnTimeoutSeconds, 'function timeout') * 1000 + TIMEOUT_MARGIN_MS;
}
