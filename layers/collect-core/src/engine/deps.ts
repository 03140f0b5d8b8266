import type { Task } from '../model';
import type {
  Clock,
  Collector,
  ControlFlags,
  EventLog,
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
