import { isInternalCall, optionalBody, parseOr400, type Route, routedHandler } from '@collect/common';
import { listCollectors } from '../app/catalog';
import { createJob, deleteJob, getJob, listJobs, listQuerySchema, triggerJob, updateJob } from '../app/jobs';
import { deleteRelease, promoteVersion, putRelease } from '../app/releases';
import { getServices } from '../composition';
import { loadConfig } from '../config';

/** The register's API: the collector catalog and jobs. One function, routed by API Gateway's route key. */
const routes: Record<string, Route> = {
  'GET /api/collectors': async () => ({ status: 200, body: await listCollectors(getServices()) }),
  'POST /api/jobs': async (req) => ({
    status: 201,
    body: await createJob(getServices(), req.tenantId, optionalBody(req)),
  }),
  'GET /api/jobs': async (req) => ({
    status: 200,
    body: await listJobs(
      getServices(),
      req.tenantId,
      parseOr400(listQuerySchema, req.query, 'query', 'query'),
    ),
  }),
  'GET /api/jobs/{id}': async (req) => {
    const s = getServices();
    const job = await getJob(s, req.tenantId, req.params.id ?? '');
    // What its upstream runs' ends did to it: started a run (in their chain), or why not.
    return { status: 200, body: { ...job, upstreamEvents: await s.chain.ofJob(req.tenantId, job.id) } };
  },
  'PUT /api/jobs/{id}': async (req) => ({
    status: 200,
    body: await updateJob(getServices(), req.tenantId, req.params.id ?? '', optionalBody(req)),
  }),
  'POST /api/jobs/{id}/trigger': async (req) => {
    const { taskId, chainId, collectorVersion } = await triggerJob(
      getServices(),
      req.tenantId,
      req.params.id ?? '',
      optionalBody(req),
      {
        idempotencyKey: req.headers['idempotency-key'],
        internal: isInternalCall(loadConfig().INTERNAL_API_KEY, req),
      },
    );
    return { status: 202, body: { taskId, chainId, collectorVersion, statusUrl: `/api/tasks/${taskId}` } };
  },
  'PUT /api/jobs/{id}/release': async (req) => ({
    status: 200,
    body: await putRelease(getServices(), req.tenantId, req.params.id ?? '', optionalBody(req)),
  }),
  'DELETE /api/jobs/{id}/release': async (req) => ({
    status: 200,
    body: await deleteRelease(getServices(), req.tenantId, req.params.id ?? ''),
  }),
  'POST /api/collectors/{type}/versions/{version}/promote': async (req) => ({
    status: 200,
    body: await promoteVersion(getServices(), req.tenantId, req.params.type ?? '', req.params.version ?? ''),
  }),
  'DELETE /api/jobs/{id}': async (req) => ({
    status: 200,
    body: await deleteJob(getServices(), req.tenantId, req.params.id ?? ''),
  }),
};

export const handler = routedHandler(routes, { maxBodyBytes: 256 * 1024, rawBody: true });
