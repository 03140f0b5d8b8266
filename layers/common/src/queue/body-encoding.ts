import { promisify } from 'node:util';
import { constants, gunzipSync, gzip } from 'node:zlib';
import { NonRetryableError } from '../errors';

const gzipAsync = promisify(gzip);

/** No message of ours comes near this; a body that inflates past it is refused, not buffered. */
const MAX_DECODED_BYTES = 64 * 1024 * 1024;

/** The `content_encoding` property of a compressed message body. */
export const GZIP = 'gzip';

/**
 * A message body as published: gzipped (fastest level) when it has at least `minBytes`, as is.
 * Shard messages are JSON of ~1 MB that compresses about 5x at ~6 ms per MB, so the broker's
 * write-ahead log, the bridge and the Lambda event carry a fifth of the bytes. zlib runs on
 * libuv's thread pool, so the caller's event loop does not wait on it. `minBytes` 0 = never.
 */
export async function encodeBody(
  body: Buffer,
  minBytes: number,
): Promise<{ body: Buffer; contentEncoding?: typeof GZIP }> {
  if (minBytes <= 0 || body.length < minBytes) return { body };
  return { body: await gzipAsync(body, { level: constants.Z_BEST_SPEED }), contentEncoding: GZIP };
}

/** The JSON text of a delivered body; NonRetryableError for an encoding it cannot undo. */
export function decodeBody(body: Buffer, contentEncoding: string | null | undefined, what: string): string {
  if (!contentEncoding) return body.toString('utf8');
  if (contentEncoding !== GZIP)
    throw new NonRetryableError(
      'INVALID_MESSAGE',
      `${what} has unknown content encoding "${contentEncoding}"`,
    );
  try {
    return gunzipSync(body, { maxOutputLength: MAX_DECODED_BYTES }).toString('utf8');
  } catch {
    throw new NonRetryableError(
      'INVALID_MESSAGE',
      `${what} is not valid gzip or inflates past ${MAX_DECODED_BYTES} bytes`,
    );
  }
}
