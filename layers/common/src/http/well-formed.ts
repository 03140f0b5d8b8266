import { badRequest, ProblemList } from '../errors';

/**
 * A 400 naming every string (key or value) of a parsed body that is not valid Unicode: an
 * unpaired surrogate (the JSON escape `\ud800` alone) parses, but no store takes it.
 */
export function refuseIllFormed(body: unknown): void {
  const problems = new ProblemList();
  const walk = (v: unknown, path: string): void => {
    if (problems.total >= 20) return;
    if (typeof v === 'string') {
      if (!v.isWellFormed())
        problems.add(path, 'must be valid Unicode (no unpaired surrogate)', 'invalid_string');
    } else if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, `${path}[${i}]`);
    } else if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v)) {
        const at = path ? `${path}.${k}` : k;
        if (!k.isWellFormed()) problems.add(at, 'the key must be valid Unicode', 'invalid_string');
        walk(x, at);
      }
  };
  walk(body, '');
  if (problems.total > 0) throw badRequest(`the body has ${problems.total} problem(s)`, problems.items);
}
