import { badRequest, isUuid, notFound, type Problem, ProblemList, TENANT_ID_RE } from '@collect/common';
import { adapts, type CircuitBreakers, type FlowLimit } from '@collect/core';
import { z } from 'zod';
import type { RedisFlowControl } from '../adapters/flow-control.redis';
import type { FlowLimits, StoredFlowLimit } from '../adapters/flow-limits.mysql';
import type { FunctionConcurrency } from '../adapters/function-concurrency';

export interface FlowDeps {
  /** The functions a `function:` key may name. */
  consumerFunctions: readonly string[];
  flowLimits: FlowLimits;
  functionConcurrency: FunctionConcurrency;
  flowControl: RedisFlowControl;
  breakers: CircuitBreakers;
}

/**
 * The flow keys: `function:{name}` (a consumer function's concurrency: the bridge applies it
 * locally, reserved concurrency on AWS), `job:{id}`, `tenant:{id}` and `host:{source host}`.
 */
const KEY = new RegExp(
  [
    '^function:[A-Za-z0-9_-]{1,64}$',
    '^job:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
    `^tenant:${TENANT_ID_RE.source.replace(/^\^|\$$/g, '')}$`,
    // A host name is dot-separated labels of letters, digits and inner hyphens.
    '^host:((?=[a-z0-9.-]{1,253}(:|$))[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*|\\[[0-9a-f:.]{2,45}\\])(:[0-9]{1,5})?$',
  ].join('|'),
);

/** The schema's problem when a body says nothing to limit (a function key says it its own way). */
const NOTHING_TO_LIMIT = 'say concurrency, ratePerSecond or tasks';

export const flowBodySchema = z
  .strictObject({
    /** Shards (or invocations, for `function:`) at once; 0 holds everything under the key. */
    concurrency: z.number().int().min(0).max(10_000).optional(),
    ratePerSecond: z.number().min(0.001).max(100_000).optional(),
    burst: z.number().int().min(1).max(100_000).optional(),
    /** `tenant:` keys only: the tenant's unfinished tasks at once (a start beyond it is a 429). */
    tasks: z.number().int().min(0).max(100_000).optional(),
  })
  .refine((b) => b.concurrency !== undefined || b.ratePerSecond !== undefined || b.tasks !== undefined, {
    message: NOTHING_TO_LIMIT,
    path: ['concurrency'],
  })
  .refine((b) => b.burst === undefined || b.ratePerSecond !== undefined, {
    message: 'a burst needs a ratePerSecond',
    path: ['burst'],
  });

const KEY_PROBLEM: Problem = {
  path: 'key',
  message:
    'must be function:{name}, job:{job id}, tenant:{tenant id} or host:{host[:port]} as a URL writes it (lower-case host, [IPv6], no default port 80, port 1-65535)',
  code: 'invalid_key',
};

/** The flow key a path names (URL-decoded), or undefined when it names none. */
function flowKeyOf(raw: string): string | undefined {
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    key = raw;
  }
  const port = /:(\d+)$/.exec(key.startsWith('host:') ? key.slice(5).replace(/^\[.*\]/, '') : '')?.[1];
  const valid =
    KEY.test(key) &&
    (!key.startsWith('job:') || isUuid(key.slice(4))) &&
    (port === undefined || (Number(port) >= 1 && Number(port) <= 65_535)) &&
    (!key.startsWith('host:') || canonicalHost(key.slice(5)) === key.slice(5));
  return valid ? key : undefined;
}

/**
 * A host as a shard's key has it: `new URL(baseUrl).host` (flow-keys.ts). A key written any
 * other way (`0x7f.1`, `[::ffff:1.2.3.4]`, `:80`, `999.1.1.1`) could never match a source.
 */
function canonicalHost(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).host;
  } catch {
    return undefined;
  }
}

function checkedKey(raw: string): string {
  const key = flowKeyOf(raw);
  if (!key) throw badRequest('not a flow key', [KEY_PROBLEM]);
  return key;
}

/**
 * What is in force under a key now: the slots held, the rate adapted to its source and its
 * breaker (host keys).
 */
const now = async (deps: FlowDeps, key: string) => ({
  inUse: { concurrency: key.startsWith('function:') ? null : await deps.flowControl.inUse(key) },
  adapted: { ratePerSecond: (await deps.flowControl.adaptedRate(key)) ?? null },
  breaker: adapts(key) ? await deps.breakers.view(key) : null,
});

const view = async (deps: FlowDeps, l: StoredFlowLimit) => ({
  key: l.key,
  limit: {
    concurrency: l.concurrency ?? null,
    ratePerSecond: l.ratePerSecond ?? null,
    burst: l.burst ?? null,
    tasks: l.tasks ?? null,
  },
  ...(await now(deps, l.key)),
  version: l.version,
  updatedAt: l.updatedAt,
});

/** `PUT /api/flow/{key}`: in force on every worker within a second. Every problem in one 400. */
export async function putFlow(deps: FlowDeps, rawKey: string, body: unknown) {
  const problems = new ProblemList();
  const key = flowKeyOf(rawKey);
  if (!key) problems.add(KEY_PROBLEM.path, KEY_PROBLEM.message, KEY_PROBLEM.code);
  const parsed = flowBodySchema.safeParse(body);
  if (!parsed.success) {
    // For a function key NOTHING_TO_LIMIT is said better below.
    const issues = key?.startsWith('function:')
      ? parsed.error.issues.filter((i) => i.message !== NOTHING_TO_LIMIT)
      : parsed.error.issues;
    if (issues.length > 0) problems.addZod('', new z.ZodError(issues));
  }
  if (key?.startsWith('function:') && !deps.consumerFunctions.includes(key.slice('function:'.length)))
    problems.add(
      'key',
      `no consumer function "${key.slice('function:'.length)}"; one of ${deps.consumerFunctions.join(', ')}`,
      'unknown_function',
    );
  // A function's limit is its concurrency (the reserved concurrency on AWS): a rate there would
  // be stored and do nothing, and on AWS a missing concurrency deletes the reservation.
  // Read from the body as sent, so these are listed whatever else is wrong with it.
  const sent =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : {};
  if (key?.startsWith('function:')) {
    if (sent.concurrency === undefined)
      problems.add(
        'concurrency',
        "a function's limit is its concurrency: say it",
        'function_needs_concurrency',
      );
    for (const field of ['ratePerSecond', 'burst'] as const)
      if (sent[field] !== undefined)
        problems.add(
          field,
          'a function key limits concurrency only; rates go on tenant:, job: or host: keys',
          'not_for_functions',
        );
  }
  if (key && !key.startsWith('tenant:') && typeof body === 'object' && body !== null && 'tasks' in body)
    problems.add('tasks', "a quota of tasks is a tenant's (key tenant:{id})", 'tasks_not_tenant');
  if (!key || !parsed.success || problems.total > 0)
    throw badRequest(`the flow limit has ${problems.total} problem(s)`, problems.items);
  const limit: FlowLimit = parsed.data;
  const saved = await deps.flowLimits.put(key, limit);
  if (key.startsWith('function:'))
    await deps.functionConcurrency.set(key.slice('function:'.length), limit.concurrency);
  return view(deps, saved);
}

export async function getFlow(deps: FlowDeps, rawKey: string) {
  const key = checkedKey(rawKey);
  const l = await deps.flowLimits.get(key);
  // No limit, but slots may still be held (a limit deleted while shards ran), its source's rate
  // adapted or its breaker open: say so.
  if (!l) return { key, limit: null, ...(await now(deps, key)) };
  return view(deps, l);
}

export async function listFlow(deps: FlowDeps) {
  return { items: await Promise.all((await deps.flowLimits.list()).map((l) => view(deps, l))) };
}

export async function deleteFlow(deps: FlowDeps, rawKey: string) {
  const key = checkedKey(rawKey);
  if (!(await deps.flowLimits.delete(key))) throw notFound(`flow limit "${key}"`);
  if (key.startsWith('function:'))
    await deps.functionConcurrency.set(key.slice('function:'.length), undefined);
  return { key, limit: null };
}
