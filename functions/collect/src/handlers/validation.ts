import { badRequest, ProblemList } from '@collect/common';
import type { z } from 'zod';

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
