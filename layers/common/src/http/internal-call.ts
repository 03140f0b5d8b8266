import { createHmac, timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from './http-handler';

/**
 * Calls between the platform's services are signed, so what only a service may say (a
 * scheduled fire's trigger to the register, a job's origin to collect) cannot be said by anyone
 * else who reaches the same public API. The signature is an HMAC-SHA256, with the key every
 * service shares (INTERNAL_API_KEY), over the tenant, the method and path, and the body's bytes.
 */
export const INTERNAL_SIGNATURE_HEADER = 'x-collect-signature';

export function callSignature(
  key: string,
  tenantId: string,
  method: string,
  path: string,
  body: string,
): string {
  return createHmac('sha256', key)
    .update(`${tenantId}\n${method.toUpperCase()} ${path}\n${body}`)
    .digest('hex');
}

/** Whether a request (read with `rawBody`) is a call another service signed with `key`. */
export function isInternalCall(key: string, req: HttpRequest): boolean {
  const given = req.headers[INTERNAL_SIGNATURE_HEADER];
  if (!given || req.rawBody === undefined) return false;
  const expected = Buffer.from(callSignature(key, req.tenantId, req.method, req.path, req.rawBody), 'hex');
  const got = Buffer.from(given, 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
