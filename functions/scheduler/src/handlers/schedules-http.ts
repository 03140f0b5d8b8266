import { badRequest, notFound, optionalBody, type Route, routedHandler } from '@collect/common';
import { createSchedule, deleteSchedule, getSchedule, listSchedules, setPaused } from '../app/schedules';
import { getServices } from '../composition';

/** The scheduler's API. One function, routed by API Gateway's route key. */
const routes: Record<string, Route> = {
  'POST /api/schedules': async (req) => ({
    status: 201,
    body: await createSchedule(getServices(), req.tenantId, optionalBody(req)),
  }),
  'GET /api/schedules': async (req) => {
    const jobId = req.query.jobId;
    if (jobId !== undefined && !/^[0-9a-f-]{36}$/.test(jobId))
      throw badRequest('invalid query', [{ path: 'query.jobId', message: 'must be a job id' }]);
    return { status: 200, body: await listSchedules(getServices(), req.tenantId, jobId) };
  },
  'GET /api/schedules/{id}': async (req) => ({
    status: 200,
    body: await getSchedule(getServices(), req.tenantId, req.params.id ?? ''),
  }),
  'POST /api/schedules/{id}/{action}': async (req) => {
    const action = req.params.action;
    if (action !== 'pause' && action !== 'resume') throw notFound(`action "${action}"`);
    return {
      status: 200,
      body: await setPaused(getServices(), req.tenantId, req.params.id ?? '', action === 'pause'),
    };
  },
  'DELETE /api/schedules/{id}': async (req) => ({
    status: 200,
    body: await deleteSchedule(getServices(), req.tenantId, req.params.id ?? ''),
  }),
};

export const handler = routedHandler(routes, { maxBodyBytes: 64 * 1024, rawBody: true });
