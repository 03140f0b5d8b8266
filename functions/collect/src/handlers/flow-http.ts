import { optionalBody, type Route, routedHandler } from '@collect/common';
import { deleteFlow, getFlow, listFlow, putFlow } from '../app/flow';
import { getServices } from '../composition';

/**
 * Flow limits (`/api/flow`): the operator's API, not a tenant's — keys are global. One
 * function, routed by API Gateway's route key.
 */
const routes: Record<string, Route> = {
  'GET /api/flow': async () => ({ status: 200, body: await listFlow(await getServices()) }),
  'GET /api/flow/{key}': async (req) => ({
    status: 200,
    body: await getFlow(await getServices(), req.params.key ?? ''),
  }),
  'PUT /api/flow/{key}': async (req) => ({
    status: 200,
    body: await putFlow(await getServices(), req.params.key ?? '', optionalBody(req)),
  }),
  'DELETE /api/flow/{key}': async (req) => ({
    status: 200,
    body: await deleteFlow(await getServices(), req.params.key ?? ''),
  }),
};

export const handler = routedHandler(routes, { maxBodyBytes: 16 * 1024, rawBody: true });
