import {
  type HttpRequest,
  type HttpResult,
  isInternalCall,
  notFound,
  optionalBody,
  parseOr400,
  type Route,
  routedHandler,
} from '@collect/common';
import { CONTROL_ACTIONS, type ControlAction } from '@collect/core';
import { publishPartial } from '../app/publish-run';
import {
  controlRun,
  controlRunShard,
  listQuerySchema,
  listTasks,
  logsQuerySchema,
  retryBodySchema,
  retryOptions,
  seedRetrySchema,
  startRun,
  taskLogs,
  viewTask,
} from '../app/runs';
import { getServices } from '../composition';

const action = (req: HttpRequest, allowed: readonly ControlAction[] = CONTROL_ACTIONS): ControlAction => {
  const a = req.params.action ?? '';
  if (!(allowed as readonly string[]).includes(a)) throw notFound(`action "${a}"`);
  return a as ControlAction;
};

/** A control's answer: 200 when it is done, 202 while a running shard still has to honour it. */
const controlled = (
  r: { state: string; requested: string | null; shards: { requested: string | null }[] },
  body: unknown,
): HttpResult => {
  const reached =
    (r.requested === 'PAUSE' && r.state === 'PAUSED') || (r.requested === 'STOP' && r.state === 'STOPPED');
  const pending = (r.requested !== null && !reached) || r.shards.some((s) => s.requested);
  return { status: pending ? 202 : 200, body };
};

/** The task API (DESIGN §6), and the original design's /api/task aliases. */
const routes: Record<string, Route> = {
  'POST /api/tasks': async (req) => {
    const s = await getServices();
    const { taskId, collectorVersion } = await startRun(s, req.tenantId, optionalBody(req), {
      idempotencyKey: req.headers['idempotency-key'],
      internal: isInternalCall(s.config.INTERNAL_API_KEY, req),
    });
    return { status: 202, body: { taskId, collectorVersion, statusUrl: `/api/tasks/${taskId}` } };
  },
  'GET /api/tasks': async (req) => {
    const q = parseOr400(listQuerySchema, req.query, 'query', 'query');
    return { status: 200, body: await listTasks(await getServices(), req.tenantId, q) };
  },
  'GET /api/tasks/{id}': async (req) => ({
    status: 200,
    body: await viewTask(await getServices(), req.tenantId, req.params.id ?? ''),
  }),
  'POST /api/tasks/{id}/{action}': async (req) => {
    if (req.params.action === 'publish')
      return {
        status: 200,
        body: await publishPartial(await getServices(), req.tenantId, req.params.id ?? ''),
      };
    const a = action(req);
    const opts = a === 'retry' ? retryOptions(parseOr400(retryBodySchema, optionalBody(req), 'retry')) : {};
    const r = await controlRun(await getServices(), req.tenantId, req.params.id ?? '', a, opts);
    return controlled(r, r);
  },
  'POST /api/tasks/{id}/shards/{shardId}/{action}': async (req) => {
    const r = await controlRunShard(
      await getServices(),
      req.tenantId,
      req.params.id ?? '',
      req.params.shardId ?? '',
      action(req),
    );
    return controlled(r, r);
  },
  'GET /api/tasks/{id}/logs': async (req) => {
    const q = parseOr400(logsQuerySchema, req.query, 'query', 'query');
    return { status: 200, body: await taskLogs(await getServices(), req.tenantId, req.params.id ?? '', q) };
  },
  'GET /api/task/{taskId}/status': async (req) => {
    const view = await viewTask(await getServices(), req.tenantId, req.params.taskId ?? '');
    const shards = (view.shards ?? []) as { shardId?: string; shardNo?: number }[];
    const shardStatus = Object.fromEntries(shards.map((s, i) => [s.shardId ?? String(s.shardNo ?? i), s]));
    return { status: 200, body: { taskId: view.id, ...view, shardStatus } };
  },
  'POST /api/task/{taskId}/{action}': async (req) => {
    const a = action(req, ['pause', 'resume', 'retry']);
    let opts = {};
    if (a === 'retry') {
      const seed = parseOr400(seedRetrySchema, optionalBody(req), 'retry strategy');
      const base = seed.retryInterval;
      opts = {
        scope: seed.scope ?? 'FAILED',
        policy: {
          maxAttempts: seed.maxRetries,
          baseDelayMs: base,
          maxDelayMs: seed.exponentialBackoff
            ? Math.max(base, base * 2 ** Math.min(seed.maxRetries, 16))
            : base,
        },
      };
    }
    const r = await controlRun(await getServices(), req.tenantId, req.params.taskId ?? '', a, opts);
    return controlled(r, r);
  },
};

export const handler = routedHandler(routes, { maxBodyBytes: 64 * 1024, rawBody: true });
