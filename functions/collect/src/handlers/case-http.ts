import { httpHandler, notFound, parseOr400 } from '@collect/common';
import { readCase } from '../app/read-case';
import { getServices } from '../composition';
import { caseQuerySchema, nodeIdSchema } from '../schemas';

/** GET /api/testcase/{id}?source= */
export const handler = httpHandler(async (req) => {
  const q = parseOr400(caseQuerySchema, req.query, 'query', 'query');
  const id = nodeIdSchema.safeParse(req.params.id);
  if (!id.success) throw notFound(`case "${req.params.id}"`);
  return {
    status: 200,
    body: await readCase(await getServices(), req.tenantId, q.source, id.data, q.version),
  };
});
