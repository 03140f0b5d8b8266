import { httpHandler } from '@collect/common';
import { commitImport } from '../app/import-parts';
import { getServices } from '../composition';

/** POST /api/testcase/imports/{id}/commit → 202: no more parts; the task settles when its shards have. */
export const handler = httpHandler(async (req) => {
  const result = await commitImport(await getServices(), req.tenantId, req.params.id ?? '');
  return { status: 202, body: { ...result, statusUrl: `/api/tasks/${result.taskId}` } };
});
