import { httpHandler } from '@collect/common';
import { readTask } from '../app/read-task';
import { getServices } from '../composition';

/** GET /api/tasks/{id} */
export const handler = httpHandler(async (req) => {
  const s = await getServices();
  return { status: 200, body: await readTask(s, req.tenantId, req.params.id ?? '') };
});
