import { badRequest, httpHandler } from '@collect/common';
import { readTree } from '../app/read-tree';
import { ProblemList } from '../app/tree-walk';
import { getServices } from '../composition';
import { treeQuerySchema } from '../schemas';

/** GET /api/testcase/tree?source=&rootId=&depth= */
export const handler = httpHandler(async (req) => {
  const q = treeQuerySchema.safeParse(req.query);
  if (!q.success) {
    const problems = new ProblemList();
    problems.addZod('query', q.error);
    throw badRequest('invalid query', problems.items);
  }
  const s = await getServices();
  const body = await readTree(
    { db: s.db, trees: s.trees, cache: s.cache, maxNodes: s.treeMaxNodes },
    req.tenantId,
    q.data,
  );
  return { status: 200, body };
});
