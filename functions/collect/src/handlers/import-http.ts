import { badRequest, httpHandler, ProblemList } from '@collect/common';
import { nodeProblems } from '../app/plan-import';
import { importLimits, submitImport } from '../app/submit-import';
import { getServices } from '../composition';
import { loadConfig } from '../config';
import { importEnvelopeSchema, importRequestSchema } from '../schemas';
import { rethrowPublishFailure } from './publish-failure';

/** POST /api/testcase/import → 202 { taskId } once RabbitMQ confirmed every shard message. */
export const handler = httpHandler(
  async (req) => {
    const parsed = importRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      // The envelope is checked on its own too, so a bad mode does not hide a bad source.
      const problems = new ProblemList();
      const envelope = importEnvelopeSchema.safeParse(req.body);
      if (!envelope.success) problems.addZod('', envelope.error);
      // The union reports a bad mode or source again, in its own words: list each once.
      const reported = new Set(envelope.error?.issues.map((i) => String(i.path[0])));
      problems.addZod('', parsed.error, reported);
      nodeProblems(req.body, importLimits(loadConfig()), problems);
      throw badRequest(`the import has ${problems.total} problem(s)`, problems.items);
    }
    const { taskId } = await submitImport(await getServices(), req.tenantId, parsed.data).catch(
      rethrowPublishFailure,
    );
    return { status: 202, body: { taskId, statusUrl: `/api/tasks/${taskId}` } };
  },
  {
    jsonBody: true,
    maxBodyBytes: loadConfig().IMPORT_MAX_BODY_BYTES,
    exclusiveAboveBytes: 256 * 1024,
    // The tree's own validation names each bad string by its node (and walks the body once).
    wellFormed: false,
  },
);
