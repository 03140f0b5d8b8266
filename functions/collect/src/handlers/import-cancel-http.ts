import { httpHandler } from '@collect/common';
import { cancelImport } from '../app/import-parts';
import { getServices } from '../composition';

/**
 * DELETE /api/testcase/imports/{id} → 200: the open import is cancelled, its parts discarded,
 * its source free; 202 while a shard still finishes the page it is on (it writes nothing more).
 */
export const handler = httpHandler(async (req) => {
  const body = await cancelImport(await getServices(), req.tenantId, req.params.id ?? '');
  return { status: body.requested ? 202 : 200, body };
});
