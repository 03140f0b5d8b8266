import type { ZodError } from 'zod';
/** Base error: a stable string `code` callers and workers classify by, never by message. */
export class AppError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ConfigError extends AppError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}

/** One problem in a request, pointing at where it is (`path`) in the body or query. */
export interface Problem {
  path: string;
  message: string;
  code?: string;
}

/** An error that maps to an HTTP answer; `toJSON()` is the body a caller sees. */
export class HttpError extends AppError {
  readonly status: number;
  readonly details: unknown;
  /** Seconds a client should wait before sending it again (the answer's `Retry-After`). */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    status: number,
    code: string,
    message: string,
    details?: unknown,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(code, message, options);
    this.status = status;
    this.details = details;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  toJSON(): { error: { code: string; message: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export const badRequest = (message: string, problems: Problem[]) =>
  new HttpError(400, 'VALIDATION_FAILED', message, problems);
export const notFound = (what: string) => new HttpError(404, 'NOT_FOUND', `${what} not found`);
export const conflict = (message: string, details: unknown) =>
  new HttpError(409, 'CONFLICT', message, details);
export const payloadTooLarge = (limit: number) =>
  new HttpError(413, 'PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`, {
    limitBytes: limit,
  });

/**
 * How a worker should treat a failure. Retryable failures come back through the queue
 * (bounded by the delivery limit); non-retryable ones are recorded and the message is settled.
 */
export type FailureClass = 'retryable' | 'non-retryable';

export class NonRetryableError extends AppError {}

export function classifyFailure(err: unknown): FailureClass {
  if (err instanceof NonRetryableError) return 'non-retryable';
  if (err instanceof AppError && err.code.startsWith('INVALID_')) return 'non-retryable';
  return 'retryable';
}

/** At most this many problems are listed; the total is always reported. */
export const MAX_LISTED_PROBLEMS = 1000;

export class ProblemList {
  readonly items: Problem[] = [];
  total = 0;
  add(path: string, message: string, code?: string): void {
    this.total += 1;
    if (this.items.length < MAX_LISTED_PROBLEMS)
      this.items.push({ path, message, ...(code ? { code } : {}) });
  }
  /** Adds zod's issues, except those under a top-level key in `skip` (already reported). */
  addZod(base: string, error: ZodError, skip: ReadonlySet<string> = new Set()): void {
    for (const issue of error.issues) {
      if (skip.has(String(issue.path[0]))) continue;
      const sub = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      const path = `${base}${sub}`.replace(/^\./, '');
      // A field nobody asked for is named as its own problem, not as one of its parent.
      const problems: [string, string][] =
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((k) => [`${path}.${k}`.replace(/^\./, ''), 'is not a known field'])
          : [[path, issue.message]];
      for (const [at, message] of problems)
        if (!this.items.some((i) => i.path === at && i.message === message))
          this.add(at, message, issue.code);
    }
  }
}
