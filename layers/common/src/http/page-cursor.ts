import { badRequest } from '../errors';
import { isUuid } from '../ids';

/** Where a page of a newest-first list ended: the last row's creation time and id. */
export interface PagePosition {
  createdAt: Date;
  id: string;
}

/** The opaque cursor of the next page (`null` when this one was the last). */
export function nextCursor(last: PagePosition | undefined, more: boolean): string | null {
  return more && last
    ? Buffer.from(JSON.stringify([last.createdAt.toISOString(), last.id])).toString('base64url')
    : null;
}

/** The position a cursor this API gave names; a `400` (at `path`) for anything else. */
export function cursorPosition(cursor: string | undefined, path = 'cursor'): PagePosition | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const createdAt = new Date(at);
    if (Number.isNaN(createdAt.getTime()) || typeof id !== 'string' || !isUuid(id))
      throw new Error('bad cursor');
    return { createdAt, id };
  } catch {
    throw badRequest('the cursor is not one this API gave', [{ path, message: 'not a cursor of this list' }]);
  }
}
