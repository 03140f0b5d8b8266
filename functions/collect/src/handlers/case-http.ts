import { badRequest, httpHandler, notFound } from '@collect/common';
import { readCase } from '../app/read-case';
import { ProblemList } from '../app/tree-walk';
import { getServices } from '../composition';
import { caseQuerySchema, nodeIdSchema } from '../schemas';

/** GET /api/testcase/{id}?source= */
export const handler = httpHandler(async (req) => {
  const q = caseQuerySchema.safeParse(req.query);
  if (!q.success) {
    const problems = new ProblemList();
    problems.addZod('query', q.error);
    throw badRequest('invalid query', problems.items);
  }
  const id = nodeIdSchema.safeParse(req.params.id);
  if (!id.success) throw notFound(`case "${req.params.id}"`);
  const s = await getServices();
  return { status: 200, body: await readCase(s, req.tenantId, q.data.source, id.data) };
});
