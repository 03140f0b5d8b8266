import type { z } from 'zod';
import { badRequest, ProblemList } from '../errors';
import type { HttpRequest } from './http-handler';
import { refuseIllFormed } from './well-formed';

/** Parses `value` or throws a 400 listing every zod issue under `base`. */
export function parseOr400<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  base = '',
): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = new ProblemList();
  problems.addZod(base, parsed.error);
  throw badRequest(`invalid ${what}: ${problems.total} problem(s)`, problems.items);
}

/** The JSON body of a request read with `rawBody` (none is `{}`), or a 400 when it is not JSON. */
export function optionalBody(req: HttpRequest): unknown {
  const raw = req.rawBody?.trim() ?? '';
  if (raw === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (err) {
    throw badRequest('request body is not valid JSON', [{ path: '', message: (err as Error).message }]);
  }
  refuseIllFormed(body);
  return body;
}
