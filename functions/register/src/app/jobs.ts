import { createHash, randomUUID } from 'node:crypto';
import {
  badRequest,
  cursorPosition,
  HttpError,
  isUuid,
  maskSecrets,
  nextCursor,
  notFound,
  ProblemList,
} from '@collect/common';
import { z } from 'zod';
import type { CollectorCatalog } from '../adapters/catalog.mysql';
import type { Job, JobBody, JobStore } from '../adapters/jobs.mysql';
import type { ReleaseStore } from '../adapters/releases.mysql';
import { findCycle } from '../domain/dag';
import type { JobAnnouncer, TaskStarter, Trigger } from '../ports';
import { releaseView, versionForRun } from './releases';
import { settingsProblems } from './settings';

export interface JobDeps {
  catalog: CollectorCatalog;
  jobs: JobStore;
  releases: ReleaseStore;
}

export const jobBodySchema = z.strictObject({
  name: z
    .string()
    .max(128)
    .refine((s) => s.trim().length > 0, 'must not be blank'),
  collector: z.string().min(1).max(64),
  /** The tree the job collects into, named as collect names sources. */
  source: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must match [A-Za-z0-9_.:-]{1,128}'),
  settings: z.record(z.string(), z.unknown()),
  strategy: z.record(z.string(), z.unknown()).optional(),
  // A RANGE run needs a range, given per trigger: it cannot be what a job runs by default.
  defaultMode: z
    .enum(['FULL', 'INCREMENTAL'], {
      message: 'a job runs FULL or INCREMENTAL by default (RANGE is per trigger)',
    })
    .default('FULL'),
  dependsOn: z
    .array(z.string().refine(isUuid, 'must be a job id'))
    .max(100)
    .refine((ids) => new Set(ids).size === ids.length, 'lists a job twice')
    .default([]),
});

/**
 * Checks a job body in full: its shape, its collector (registered), its settings (that
 * collector's stable version's schema), and its dependencies (existing jobs, no cycle). Every
 * problem comes back in one 400; nothing is written.
 */
async function validated(
  deps: JobDeps,
  tenantId: string,
  id: string,
  body: unknown,
  secrets: SecretNames,
  current?: Job,
): Promise<JobBody> {
  const problems = new ProblemList();
  const raw = (typeof body === 'object' && body !== null ? { ...body } : {}) as Record<string, unknown>;
  if (typeof raw.settings === 'object' && raw.settings !== null && !Array.isArray(raw.settings))
    raw.settings = await keepStoredSecrets(secrets, current, raw, problems);
  const parsed = jobBodySchema.safeParse(typeof body === 'object' && body !== null ? raw : body);
  if (!parsed.success) problems.addZod('', parsed.error);
  if (typeof raw.collector === 'string') {
    const stable = await deps.catalog.stable(raw.collector);
    if (!stable) {
      const known = [...new Set((await deps.catalog.list()).map((v) => v.type))];
      problems.add(
        'collector',
        `unknown collector "${raw.collector}"; registered: ${known.join(', ') || 'none'}`,
        'unknown_collector',
      );
    } else {
      if (typeof raw.settings === 'object' && raw.settings !== null)
        settingsProblems(stable.settingsSchema, raw.settings, problems);
      if (typeof raw.strategy === 'object' && raw.strategy !== null && stable.strategySchema)
        settingsProblems(stable.strategySchema, raw.strategy, problems, 'strategy');
    }
  }
  // Dependencies are checked whatever else is wrong, so the 400 lists every problem.
  if (Array.isArray(raw.dependsOn)) {
    const edges = await deps.jobs.edges(tenantId);
    raw.dependsOn.forEach((dep, i) => {
      if (typeof dep !== 'string' || !isUuid(dep)) return;
      if (dep === id) problems.add(`dependsOn[${i}]`, 'a job cannot depend on itself', 'cycle');
      else if (!edges.has(dep)) problems.add(`dependsOn[${i}]`, `no job "${dep}"`, 'unknown_job');
    });
  }
  if (!parsed.success || problems.total > 0)
    throw badRequest(`the job has ${problems.total} problem(s)`, problems.items);
  return parsed.data;
}

/**
 * A job as shown has `***` for its secrets; sent back as shown (a `PUT` of a `GET`), each `***`
 * stands for the stored secret and keeps it — but only while every other setting is unchanged:
 * a secret goes where the settings send it (`baseUrl`, say), so settings that change must come
 * with their secrets again. `***` is never a secret itself: with nothing stored behind it (a new
 * job, another collector, changed settings) it is a problem.
 */
async function keepStoredSecrets(
  secretNames: SecretNames,
  current: Job | undefined,
  raw: Record<string, unknown>,
  problems: ProblemList,
): Promise<Record<string, unknown>> {
  const settings = { ...(raw.settings as Record<string, unknown>) };
  const type = typeof raw.collector === 'string' ? raw.collector : current?.collector;
  const secrets = type ? ((await secretNames()).get(type) ?? []) : [];
  const masked = secrets.filter((name) => settings[name] === MASK);
  if (masked.length === 0) return settings;
  const others = (o: Record<string, unknown>) =>
    JSON.stringify(
      Object.entries(o)
        .filter(([k]) => !secrets.includes(k))
        .sort(([x], [y]) => (x < y ? -1 : 1)),
    );
  const unchanged =
    current !== undefined &&
    raw.collector === current.collector &&
    others(settings) === others(current.settings);
  for (const name of masked) {
    if (unchanged && current?.settings[name] !== undefined) settings[name] = current.settings[name];
    else
      problems.add(
        `settings.${name}`,
        current
          ? `"${MASK}" keeps the stored secret only while the other settings stay as they are: send the secret again`
          : `"${MASK}" stands for a stored secret, and a new job has none`,
        'masked',
      );
  }
  return settings;
}

/**
 * Every setting name each collector type treats as secret, read from the catalog at most once
 * per request (validating and showing a job both need it).
 */
type SecretNames = () => Promise<Map<string, string[]>>;

function secretNamesOnce(deps: JobDeps): SecretNames {
  let read: Promise<Map<string, string[]>> | undefined;
  return () => {
    read ??= secretsByType(deps);
    return read;
  };
}

/** Every setting name each collector type treats as secret (over all its versions). */
async function secretsByType(deps: JobDeps): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const v of await deps.catalog.list())
    out.set(v.type, [...new Set([...(out.get(v.type) ?? []), ...v.secrets])]);
  return out;
}

const MASK = '***';

/** A job as shown: its secrets (as its collector names them) are `***`. */
function shown(job: Job, secrets: ReadonlyMap<string, string[]>) {
  const { tenantId: _, ...rest } = job;
  return { ...rest, settings: maskSecrets(job.settings, secrets.get(job.collector) ?? []) };
}

async function view(secrets: SecretNames, job: Job) {
  return shown(job, await secrets());
}

/** Saves, refusing a change that closes a dependency cycle (400 naming it). */
async function save(
  deps: JobDeps,
  secrets: SecretNames,
  tenantId: string,
  id: string,
  body: JobBody,
  mustExist: boolean,
) {
  const job = await deps.jobs.save(tenantId, id, body, (edges, current) => {
    if (mustExist && !current?.enabled) throw notFound(`job "${id}"`);
    // Checked again under the lock: a job being disabled meanwhile cannot gain a dependant.
    const gone = body.dependsOn.filter((dep) => !edges.has(dep));
    if (gone.length > 0)
      throw badRequest(`the job depends on ${gone.length} job(s) that are not enabled`, [
        ...gone.map((dep) => ({
          path: `dependsOn[${body.dependsOn.indexOf(dep)}]`,
          message: `no job "${dep}"`,
          code: 'unknown_job',
        })),
      ]);
    edges.set(id, body.dependsOn);
    const cycle = findCycle(edges);
    if (cycle)
      throw badRequest(`the job's dependencies close a cycle: ${cycle.join(' → ')}`, [
        { path: 'dependsOn', message: `closes the cycle ${cycle.join(' → ')}`, code: 'cycle' },
      ]);
  });
  return view(secrets, job);
}

export async function createJob(deps: JobDeps, tenantId: string, body: unknown) {
  const id = randomUUID();
  const secrets = secretNamesOnce(deps);
  return save(deps, secrets, tenantId, id, await validated(deps, tenantId, id, body, secrets), false);
}

export async function updateJob(deps: JobDeps, tenantId: string, id: string, body: unknown) {
  const current = isUuid(id) ? await deps.jobs.get(tenantId, id) : undefined;
  if (!current?.enabled) throw notFound(`job "${id}"`);
  const secrets = secretNamesOnce(deps);
  return save(deps, secrets, tenantId, id, await validated(deps, tenantId, id, body, secrets, current), true);
}

/** A job with its gray release (`null`: every run takes the stable version). */
export async function getJob(deps: JobDeps, tenantId: string, id: string) {
  const job = isUuid(id) ? await deps.jobs.get(tenantId, id) : undefined;
  if (!job) throw notFound(`job "${id}"`);
  return {
    ...(await view(secretNamesOnce(deps), job)),
    release: await releaseView(deps, tenantId, job.id, job.collector),
  };
}

/**
 * Disables a job (history kept) and announces it, so the scheduler deletes its schedules; `409`
 * while enabled jobs still depend on it. Sent again it announces again (an announcement that was
 * lost is sent then).
 */
export async function deleteJob(deps: JobDeps & { announcer: JobAnnouncer }, tenantId: string, id: string) {
  const job = isUuid(id) ? await deps.jobs.get(tenantId, id) : undefined;
  if (!job) throw notFound(`job "${id}"`);
  const { dependants } = await deps.jobs.disable(tenantId, id);
  if (dependants.length > 0)
    throw new HttpError(409, 'CONFLICT', `jobs still depend on job "${id}"`, { dependants });
  await deps.announcer.disabled(tenantId, id);
  return { id, enabled: false };
}

export const listQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

/** The tenant's jobs, newest first, paged by an opaque cursor. */
export async function listJobs(deps: JobDeps, tenantId: string, q: z.infer<typeof listQuerySchema>) {
  const rows = await deps.jobs.list(tenantId, q.limit + 1, cursorPosition(q.cursor));
  const secrets = await secretsByType(deps);
  const page = rows.slice(0, q.limit);
  return {
    // The catalog read once for the page, not once per job.
    items: page.map((j) => shown(j, secrets)),
    nextCursor: nextCursor(page.at(-1), rows.length > q.limit),
  };
}

export const triggerBodySchema = z.strictObject({
  mode: z.enum(['FULL', 'INCREMENTAL', 'RANGE']).optional(),
  range: z.record(z.string(), z.unknown()).optional(),
  /** Set by the scheduler: the schedule and instant that fired (else the trigger is manual). */
  trigger: z
    .strictObject({
      kind: z.literal('schedule'),
      scheduleId: z.string().refine(isUuid, 'must be a schedule id'),
      fireTime: z.iso.datetime({ offset: true }),
    })
    .optional(),
});

/**
 * What makes a trigger one run: the schedule's fire, the upstream run and dependant, or the
 * caller's `Idempotency-Key`. collect starts one task per key, so a trigger sent again after a
 * crash or a lost answer gets the task the first one started; the key also routes the run in a
 * gray release, so the same trigger always takes the same version.
 */
export function triggerKeyOf(jobId: string, trigger: Trigger, idempotencyKey?: string): string {
  if (trigger.kind === 'schedule') return `schedule:${trigger.scheduleId}@${Date.parse(trigger.fireTime)}`;
  if (trigger.kind === 'upstream') return `upstream:${trigger.taskId}:${jobId}`;
  return idempotencyKey ? `manual:${jobId}:${idempotencyKey}` : `manual:${randomUUID()}`;
}

/**
 * Starts a run of a job through collect's public contract: the job's collector at the version
 * its release routes this run to (else the stable one), its source, settings and strategy, the
 * mode asked (else the job's default), where the run comes from (job, version, chain, trigger)
 * and the trigger's key. collect's refusal (409 while the source is busy, say) is the answer.
 */
export async function triggerJob(
  deps: JobDeps & { starter: TaskStarter },
  tenantId: string,
  id: string,
  body: unknown,
  opts: {
    trigger?: Trigger;
    chainId?: string;
    idempotencyKey?: string | undefined;
    /** A signed call of another service (the scheduler): only it may name a schedule's fire. */
    internal?: boolean;
  } = {},
): Promise<{ taskId: string; chainId: string; collectorVersion: string }> {
  const job = isUuid(id) ? await deps.jobs.get(tenantId, id) : undefined;
  if (!job?.enabled) throw notFound(`job "${id}"`);
  const parsed = triggerBodySchema.safeParse(body);
  const problems = new ProblemList();
  if (!parsed.success) problems.addZod('', parsed.error);
  if (!opts.internal && typeof body === 'object' && body !== null && 'trigger' in body)
    problems.add('trigger', "is set only by the platform's scheduler (a signed call)", 'internal_only');
  if (opts.idempotencyKey !== undefined && !/^[\x21-\x7e]{1,128}$/.test(opts.idempotencyKey))
    problems.add('header.idempotency-key', 'must be 1–128 visible ASCII characters', 'invalid_key');
  if (!parsed.success || problems.total > 0)
    throw badRequest(`the trigger has ${problems.total} problem(s)`, problems.items);
  const trigger = parsed.data.trigger ?? opts.trigger ?? { kind: 'manual' };
  const triggerKey = triggerKeyOf(job.id, trigger, opts.idempotencyKey);
  const collectorVersion = await versionForRun(deps, tenantId, job, triggerKey);
  // The chain of a run: the upstream's, else the one the trigger key always maps to (so a
  // trigger sent again reports the chain of the task it gets).
  const chainId = opts.chainId ?? uuidOf(triggerKey);
  const started = await deps.starter.start(tenantId, {
    collector: job.collector,
    collectorVersion,
    source: job.source,
    mode: parsed.data.mode ?? job.defaultMode,
    settings: job.settings,
    ...(job.strategy ? { strategy: job.strategy } : {}),
    ...(parsed.data.range ? { range: parsed.data.range } : {}),
    origin: { jobId: job.id, jobVersion: job.version, chainId, trigger, triggerKey },
  });
  // A trigger sent again gets the task the first one started, on the version it runs.
  return { taskId: started.taskId, chainId, collectorVersion: started.collectorVersion ?? collectorVersion };
}

/** A UUID (v4 layout) derived from a key: the same key, the same id. */
function uuidOf(key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((Number.parseInt(h[16] ?? '0', 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
