import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { badRequest, HttpError, notFound, payloadTooLarge } from '../errors';
import { TENANT_ID_RE } from '../ids';
import { logger } from '../logger';
import { isUnavailable } from '../retry';
import { refuseIllFormed } from './well-formed';

/** What a use case sees of an HTTP request: parsed, size-checked, never the raw event. */
export interface HttpRequest {
  /** API Gateway's route key, e.g. `POST /api/tasks/{id}/{action}`: several routes may share a handler. */
  route: string;
  /** The HTTP method and the path from `/api/` on (what a signed internal call names). */
  method: string;
  path: string;
  body: unknown;
  /** The body's text, with `rawBody: true` (size-checked, not parsed). */
  rawBody?: string;
  query: Record<string, string | undefined>;
  params: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  tenantId: string;
}

export interface HttpResult {
  status: number;
  body: unknown;
}

export interface HttpHandlerOptions {
  /** Parse the body as JSON (bodies over `maxBodyBytes` answer 413, bad JSON 400). */
  jsonBody?: boolean;
  /** With `jsonBody`: refuse strings that are not valid Unicode (default); `false` leaves it to the handler. */
  wellFormed?: boolean;
  /** Hand the body over as text (size-checked against `maxBodyBytes`), for optional bodies. */
  rawBody?: boolean;
  maxBodyBytes?: number;
  /**
   * Handle at most one request with a body over this many bytes at a time in this process,
   * from parsing on (smaller ones never wait). A Lambda
   * container runs one request at a time anyway; serverless-offline runs every request in one
   * process, whose heap two or three large imports at once would exhaust (one 10 MB import of
   * tiny nodes takes ~1.5 KB of heap per node while it is planned). Requests beyond
   * MAX_WAITING in line get 429.
   */
  exclusiveAboveBytes?: number;
}

const MAX_WAITING = 4;
let line: Promise<unknown> = Promise.resolve();
/** Requests admitted and not finished: the one running plus those waiting. */
let admitted = 0;

async function exclusively<T>(fn: () => Promise<T>): Promise<T> {
  if (admitted > MAX_WAITING) {
    throw new HttpError(
      429,
      'BUSY',
      'too many large requests at once; send this one again shortly',
      undefined,
      { retryAfterSeconds: 2 },
    );
  }
  admitted += 1;
  const run = () =>
    fn().finally(() => {
      admitted -= 1;
    });
  const turn = line.then(run, run);
  line = turn.catch(() => undefined);
  return turn;
}

type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

function toRequest(event: APIGatewayProxyEventV2, opts: HttpHandlerOptions): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  const tenantId = headers['x-tenant-id'] ?? 'default';
  if (!TENANT_ID_RE.test(tenantId)) {
    throw badRequest('invalid tenant', [
      { path: 'header.x-tenant-id', message: 'must match [A-Za-z0-9_.-]{1,64}' },
    ]);
  }
  let body: unknown;
  let rawBody: string | undefined;
  if (opts.rawBody) {
    const raw = event.body ?? '';
    rawBody = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    if (opts.maxBodyBytes !== undefined && Buffer.byteLength(rawBody, 'utf8') > opts.maxBodyBytes)
      throw payloadTooLarge(opts.maxBodyBytes);
  }
  if (opts.jsonBody) {
    const raw = event.body ?? '';
    const size = event.isBase64Encoded ? Math.floor((raw.length * 3) / 4) : Buffer.byteLength(raw, 'utf8');
    if (opts.maxBodyBytes !== undefined && size > opts.maxBodyBytes) throw payloadTooLarge(opts.maxBodyBytes);
    const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    if (text.trim() === '')
      throw badRequest('request body is empty; JSON expected', [{ path: '', message: 'empty body' }]);
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw badRequest('request body is not valid JSON', [{ path: '', message: (err as Error).message }]);
    }
    if (opts.wellFormed !== false) refuseIllFormed(body);
  }
  const method = event.requestContext?.http?.method ?? '';
  const rawPath = event.rawPath ?? '';
  return {
    route: event.routeKey ?? `${method} ${rawPath}`,
    method,
    path: rawPath.includes('/api/') ? rawPath.slice(rawPath.indexOf('/api/')) : rawPath,
    body,
    ...(rawBody !== undefined ? { rawBody } : {}),
    query: event.queryStringParameters ?? {},
    params: event.pathParameters ?? {},
    headers,
    tenantId,
  };
}

function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * Every 429 and 503 says when to try again: its own Retry-After, else these (seconds). A client
 * that honours the header then neither hammers the API nor gives up.
 */
const DEFAULT_RETRY_AFTER: Record<number, number> = { 429: 2, 503: 5 };

function retryAfterHeader(status: number, seconds: number | undefined): Record<string, string> {
  const after = seconds ?? DEFAULT_RETRY_AFTER[status];
  return after === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(after))) };
}

/** Turns any error into the API's error shape; unknown errors become a 500 without internals. */
const errorMiddleware: MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> = {
  onError: (request) => {
    const err = request.error;
    if (err instanceof HttpError) {
      request.response = json(err.status, err.toJSON(), retryAfterHeader(err.status, err.retryAfterSeconds));
      return;
    }
    if (isUnavailable(err)) {
      // A store or the broker cannot be reached: nothing was accepted, and trying again later
      // is the right thing for the client to do (a 500 would say the request itself is wrong).
      logger().warn({ err, path: request.event.rawPath }, 'a dependency is unavailable');
      request.response = json(
        503,
        {
          error: { code: 'SERVICE_UNAVAILABLE', message: 'a store or the queue is unreachable; retry later' },
        },
        retryAfterHeader(503, undefined),
      );
      return;
    }
    logger().error({ err, path: request.event.rawPath }, 'unhandled error');
    request.response = json(500, { error: { code: 'INTERNAL', message: 'internal error' } });
  },
};

/** The HTTP stack: request parsing, one use-case call, JSON result, errors mapped to the API shape. */
export function httpHandler(
  fn: (req: HttpRequest) => Promise<HttpResult>,
  opts: HttpHandlerOptions = {},
): ApiHandler {
  const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler(
    async (event) => {
      const handle = async () => {
        const result = await fn(toRequest(event, opts));
        return json(result.status, result.body);
      };
      const large =
        opts.exclusiveAboveBytes !== undefined && (event.body?.length ?? 0) > opts.exclusiveAboveBytes;
      return large ? exclusively(handle) : handle();
    },
  );
  handler.use(errorMiddleware);
  return handler as unknown as ApiHandler;
}

/** One handler of one API route. */
export type Route = (req: HttpRequest) => Promise<HttpResult>;

/**
 * One function serving several routes, picked by API Gateway's route key (e.g.
 * `POST /api/tasks/{id}/{action}`); a route key it does not serve is `404`.
 */
export function routedHandler(
  routes: Readonly<Record<string, Route>>,
  opts: HttpHandlerOptions = {},
): ApiHandler {
  return httpHandler(async (req) => {
    const route = routes[req.route];
    if (!route) throw notFound(`route "${req.route}"`);
    return route(req);
  }, opts);
}
