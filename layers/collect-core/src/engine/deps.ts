import type { Task } from '../model';
import type {
  CircuitBreakers,
  Clock,
  Collector,
  ControlFlags,
  EventLog,
  FlowControl,
  PageStore,
  RateLimiter,
  RunLifecycle,
  ShardQueue,
  TaskRepository,
} from '../ports';
import type { Failure } from '../retry-policy';

/** Everything the engine runs on; the composition root of a service wires the adapters in. */
export interface EngineDeps<R = unknown> {
  tasks: TaskRepository;
  queue: ShardQueue;
  pages: PageStore<R>;
  lifecycle: RunLifecycle;
  events: EventLog;
  limiter: RateLimiter;
  /** Flow limits across workers (per tenant, job, source host); absent = none. */
  flow?: FlowControl;
  /** The flow keys a task's shards run under (e.g. `tenant:acme`, `host:acme.testrail.io`). */
  flowKeys?(task: Task): string[];
  /** Circuit breakers of the source hosts among the flow keys (`host:`); absent = none. */
  breakers?: CircuitBreakers;
  /** How long a flow slot lasts unless renewed at a page (default FLOW_LEASE_MS). */
  flowLeaseMs?: number;
  flags: ControlFlags;
  clock: Clock;
  /** The collector a task runs with (by `task.collector`). */
  collectorOf(task: Task): Collector<unknown, unknown, unknown, unknown, R>;
  classify(err: unknown): Failure;
  random?: () => number;
}

/** Engine-wide errors the API maps to answers. */
export class EngineError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'ILLEGAL_TRANSITION' | 'SOURCE_BUSY',
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'EngineError';
  }
}
