import { AppError, HttpError } from '@collect/common';

/** A broker that refused or could not route a shard message: 503, nothing was imported. */
export function rethrowPublishFailure(err: unknown): never {
  if (err instanceof AppError && !(err instanceof HttpError) && err.code.startsWith('PUBLISH_')) {
    throw new HttpError(503, 'QUEUE_UNAVAILABLE', 'the import could not be queued; retry later', undefined, {
      cause: err,
    });
  }
  throw err;
}
