import { httpHandler, parseOr400 } from '@collect/common';
import { readTree } from '../app/read-tree';
import { getServices } from '../composition';
import { treeQuerySchema } from '../schemas';

/** GET /api/testcase/tree?source=&rootId=&depth=&version= */
export const handler = httpHandler(async (req) => {
  const q = parseOr400(treeQuerySchema, req.query, 'query', 'query');
  const s = await getServices();
  const body = await readTree({ ...s, maxNodes: s.treeMaxNodes }, req.tenantId, q);
  return { status: 200, body };
});
