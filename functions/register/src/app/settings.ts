import type { ProblemList } from '@collect/common';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020';

// Collectors' schemas are JSON Schema 2020-12 (what zod generates).
const ajv = new Ajv2020({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>();

/** The problems a collector version's JSON Schema finds in `value`, as `<base>.<field>` paths. */
export function settingsProblems(
  schema: Record<string, unknown>,
  settings: unknown,
  problems: ProblemList,
  base = 'settings',
): void {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(key, validate);
  }
  if (validate(settings)) return;
  for (const e of validate.errors ?? [])
    problems.add(pathOf(base, e), e.message ?? 'is not valid', `${base}_${e.keyword}`);
}

function pathOf(root: string, e: ErrorObject): string {
  const base = [root, ...e.instancePath.split('/').filter(Boolean)];
  const p = e.params as { missingProperty?: string; additionalProperty?: string };
  const field = p.missingProperty ?? p.additionalProperty;
  return [...base, ...(field ? [field] : [])].join('.');
}
