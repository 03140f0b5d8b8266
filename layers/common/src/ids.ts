import { createHash, randomUUID } from 'node:crypto';

/** A new random id for tasks and other platform-owned records. */
export const newId = (): string => randomUUID();

/** A stable 32-hex digest of a string; used for content hashes and deterministic keys. */
export const digest = (text: string): string => createHash('md5').update(text).digest('hex');
