import { httpHandler } from '@collect/common';
import { cancelImport } from '../app/import-parts';
import { getServices } from '../composition';

/** DELETE /api/testcase/imports/{id} → 200: the open import is cancelled, its parts discarded, its source free. */
export const handler = httpHandler(async (req) => ({
  status: 200,
  body: await cancelImport(await getServices(), req.tenantId, req.params.id ?? ''),
}));
