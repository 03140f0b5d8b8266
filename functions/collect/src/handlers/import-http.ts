import { AppError, badRequest, HttpError, httpHandler, loadConfig } from '@collect/common';
import { submitImport } from '../app/submit-import';
import { ProblemList } from '../app/tree-walk';
import { getServices } from '../composition';
import { importEnvelopeSchema, importRequestSchema } from '../schemas';

/** POST /api/testcase/import → 202 { taskId } once RabbitMQ confirmed every shard message. */
export const handler = httpHandler(
  async (req) => {
    const parsed = importRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      const problems = new ProblemList();
      const envelope = importEnvelopeSchema.safeParse(req.body);
      if (!envelope.success) problems.addZod('', envelope.error);
      problems.addZod('', parsed.error);
      throw badRequest(`the import has ${problems.total} problem(s)`, problems.items);
    }
    const services = await getServices();
    try {
      const { taskId } = await submitImport(services, req.tenantId, parsed.data);
      return { status: 202, body: { taskId, statusUrl: `/api/tasks/${taskId}` } };
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof AppError && err.code.startsWith('PUBLISH_')) {
        throw new HttpError(
          503,
          'QUEUE_UNAVAILABLE',
          'the import could not be queued; nothing was imported, retry later',
        );
      }
      throw err;
    }
  },
  { jsonBody: true, maxBodyBytes: loadConfig().IMPORT_MAX_BODY_BYTES },
);
