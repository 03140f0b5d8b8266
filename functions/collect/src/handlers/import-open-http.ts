import { httpHandler, parseOr400 } from '@collect/common';
import { openImport } from '../app/import-parts';
import { getServices } from '../composition';
import { openImportSchema } from '../schemas';

/** POST /api/testcase/imports → 201 { taskId }: opens a FULL import sent in parts. */
export const handler = httpHandler(
  async (req) => {
    const body = parseOr400(openImportSchema, req.body, 'import');
    const { taskId } = await openImport(await getServices(), req.tenantId, body.source);
    return {
      status: 201,
      body: {
        taskId,
        partsUrl: `/api/testcase/imports/${taskId}/parts`,
        commitUrl: `/api/testcase/imports/${taskId}/commit`,
        statusUrl: `/api/tasks/${taskId}`,
      },
    };
  },
  { jsonBody: true, maxBodyBytes: 64 * 1024 },
);
