import { hash, randomUUID } from 'node:crypto';

/** Whether `id` is one `newId` could make (a lower-case UUID); anything else names no record. */
export const isUuid = (id: string): boolean =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id);

/** What an `X-Tenant-Id` may be: 1–64 of A–Z, a–z, 0–9, `_`, `.`, `-` (case-sensitive). */
export const TENANT_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** A new random id for tasks and other platform-owned records. */
export const newId = (): string => randomUUID();

/**
 * A stable 32-hex digest of a string, for content hashes and deterministic keys: the first 128
 * bits of SHA-1, whose one-shot form is the fastest digest Node has here (measured: ~3x md5's
 * createHash on 1 KB inputs). Change detection, not security.
 */
export const digest = (text: string): string => hash('sha1', text, 'hex').slice(0, 32);
