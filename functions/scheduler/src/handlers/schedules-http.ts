import { notFound, optionalBody, parseOr400, type Route, routedHandler } from '@collect/common';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listQuerySchema,
  listSchedules,
  setPaused,
} from '../app/schedules';
import { getServices } from '../composition';

/** The scheduler's API. One function, routed by API Gateway's route key. */
const routes: Record<string, Route> = {
  'POST /api/schedules': async (req) => ({
    status: 201,
    body: await createSchedule(getServices(), req.tenantId, optionalBody(req)),
  }),
  'GET /api/schedules': async (req) => ({
    status: 200,
    body: await listSchedules(
      getServices(),
      req.tenantId,
      parseOr400(listQuerySchema, req.query, 'query', 'query'),
    ),
  }),
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
