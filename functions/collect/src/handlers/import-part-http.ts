import { httpHandler, parseOr400 } from '@collect/common';
import { addPart } from '../app/import-parts';
import { getServices } from '../composition';
import { loadConfig } from '../config';
import { importPartSchema } from '../schemas';
import { rethrowPublishFailure } from './publish-failure';

/** POST /api/testcase/imports/{id}/parts → 202 once the part's shards are queued. */
export const handler = httpHandler(
  async (req) => {
    const body = parseOr400(importPartSchema, req.body, 'part');
    const services = await getServices();
    const result = await addPart(services, req.tenantId, req.params.id ?? '', body.nodes).catch(
      rethrowPublishFailure,
    );
    return { status: 202, body: result };
  },
  {
    jsonBody: true,
    maxBodyBytes: loadConfig().IMPORT_MAX_BODY_BYTES,
    exclusiveAboveBytes: 256 * 1024,
    // The tree's own validation names each bad string by its node (and walks the body once).
    wellFormed: false,
  },
);
