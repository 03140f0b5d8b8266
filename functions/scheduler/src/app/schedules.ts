import { randomUUID } from 'node:crypto';
import {
  badRequest,
  cursorPosition,
  HttpError,
  isUuid,
  nextCursor,
  notFound,
  ProblemList,
} from '@collect/common';
import { z } from 'zod';
import type { Schedule, ScheduleStore } from '../adapters/schedules.mysql';
import { decideTick, nextFireTimes, scheduleProblems } from '../domain/schedule';
import type { Jobs } from '../ports';

export interface ScheduleDeps {
  schedules: ScheduleStore;
  jobs: Jobs;
  graceMs: number;
  /** The clock ("now" is passed to the tick by its event, so tests drive time). */
  now: () => Date;
}

export const scheduleBodySchema = z.strictObject({
  jobId: z.string().refine(isUuid, 'must be a job id'),
  cron: z.string().min(1).max(128),
  timezone: z.string().min(1).max(64).default('UTC'),
  // A RANGE run needs a range, which a schedule does not carry.
  mode: z
    .enum(['FULL', 'INCREMENTAL'], { message: 'a schedule runs FULL or INCREMENTAL' })
    .default('INCREMENTAL'),
  misfire: z.enum(['FIRE_ONCE', 'SKIP']).default('FIRE_ONCE'),
});

/** A schedule as shown: its next five fires from the one it is due at (none while paused). */
const view = (s: Schedule, now: Date) => {
  const { tenantId: _, ...rest } = s;
  const from = s.nextFireAt ?? now;
  return {
    ...rest,
    nextFireTimes:
      s.paused || !s.nextFireAt ? [] : nextFireTimes(s.cron, s.timezone, new Date(from.getTime() - 1), 5),
  };
};

/** `POST /api/schedules`: every problem at once (shape, cron, time zone, unknown job); 201 with the next 5 fires. */
export async function createSchedule(deps: ScheduleDeps, tenantId: string, body: unknown) {
  const problems = new ProblemList();
  const parsed = scheduleBodySchema.safeParse(body);
  if (!parsed.success) problems.addZod('', parsed.error);
  const raw = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (typeof raw.cron === 'string')
    for (const p of scheduleProblems(raw.cron, typeof raw.timezone === 'string' ? raw.timezone : 'UTC'))
      problems.add(p.path, p.message, `invalid_${p.path}`);
  if (typeof raw.jobId === 'string' && isUuid(raw.jobId) && !(await deps.jobs.exists(tenantId, raw.jobId)))
    problems.add('jobId', `no job "${raw.jobId}"`, 'unknown_job');
  if (!parsed.success || problems.total > 0)
    throw badRequest(`the schedule has ${problems.total} problem(s)`, problems.items);
  const now = deps.now();
  // The zone as IANA spells it ("utc" → "UTC"), so it reads back as the platform uses it.
  const timezone = new Intl.DateTimeFormat('en-US', { timeZone: parsed.data.timezone }).resolvedOptions()
    .timeZone;
  const [first] = nextFireTimes(parsed.data.cron, timezone, now, 1);
  const schedule = { id: randomUUID(), tenantId, ...parsed.data, timezone, nextFireAt: first ?? null };
  await deps.schedules.create(schedule);
  return view({ ...schedule, paused: false, createdAt: now }, now);
}

export async function getSchedule(deps: ScheduleDeps, tenantId: string, id: string) {
  const s = isUuid(id) ? await deps.schedules.get(tenantId, id) : undefined;
  if (!s) throw notFound(`schedule "${id}"`);
  return { ...view(s, deps.now()), fires: await deps.schedules.fires(s.id) };
}

export const listQuerySchema = z.strictObject({
  jobId: z.string().refine(isUuid, 'must be a job id').optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

/** The tenant's schedules (`?jobId=` of one job), newest first, paged by an opaque cursor. */
export async function listSchedules(
  deps: ScheduleDeps,
  tenantId: string,
  q: z.infer<typeof listQuerySchema>,
) {
  const now = deps.now();
  const rows = await deps.schedules.list(tenantId, {
    jobId: q.jobId,
    limit: q.limit + 1,
    after: cursorPosition(q.cursor),
  });
  const page = rows.slice(0, q.limit);
  return { items: page.map((s) => view(s, now)), nextCursor: nextCursor(page.at(-1), rows.length > q.limit) };
}

/** Pause or resume; a resumed schedule is next due at its next time from now (nothing missed fires). */
export async function setPaused(deps: ScheduleDeps, tenantId: string, id: string, paused: boolean) {
  const s = isUuid(id) ? await deps.schedules.get(tenantId, id) : undefined;
  if (!s) throw notFound(`schedule "${id}"`);
  if (s.paused === paused)
    throw new HttpError(
      409,
      'ILLEGAL_TRANSITION',
      `the schedule is ${paused ? 'paused' : 'running'} already`,
      {
        paused: s.paused,
      },
    );
  const [next] = nextFireTimes(s.cron, s.timezone, deps.now(), 1);
  await deps.schedules.setPaused(tenantId, id, paused, next ?? null);
  return getSchedule(deps, tenantId, id);
}

export async function deleteSchedule(deps: ScheduleDeps, tenantId: string, id: string) {
  if (!isUuid(id) || !(await deps.schedules.delete(tenantId, id))) throw notFound(`schedule "${id}"`);
  return { id, deleted: true };
}

/** What the register announces when a job is disabled (queue `job-disabled`). */
export const jobDisabledSchema = z.object({
  tenantId: z.string().min(1).max(64),
  jobId: z.string().refine(isUuid, 'must be a job id'),
});

/** A job was disabled: its schedules are deleted with it (their fires stay). Idempotent. */
export async function onJobDisabled(
  deps: Pick<ScheduleDeps, 'schedules'>,
  e: z.infer<typeof jobDisabledSchema>,
) {
  return { deleted: await deps.schedules.deleteOfJob(e.tenantId, e.jobId) };
}

/**
 * One tick at `now`: claims the due schedules (two ticks at once take different ones; an instant
 * fires once), then starts each claimed fire's run through the register. A run that cannot start
 * (the job's previous run still holds its source, say) is recorded as a skipped fire, with the
 * reason. Returns what it did.
 */
export interface TickOptions {
  /** Most due schedules one tick claims. */
  batch: number;
  /** Fires triggered at once (each is an HTTP call to the register, which calls collect). */
  concurrency: number;
  /** A fire FIRING for longer than this was left by a tick that died: it is triggered again. */
  stuckFireMs: number;
}

export async function tick(deps: ScheduleDeps & TickOptions, now: Date) {
  const claimed = [
    ...(await deps.schedules.claimStuckFires(deps.stuckFireMs, deps.batch)),
    ...(await deps.schedules.claimDue(now, deps.batch, (s) =>
      decideTick(s, s.nextFireAt as Date, now, deps.graceMs),
    )),
  ];
  // Settled together once all are triggered (one write): a tick that dies first leaves them
  // FIRING, and the next ticks trigger them again under the same keys.
  const settled: Parameters<ScheduleStore['settleFires']>[0] = [];
  await inParallel(claimed, deps.concurrency, async (c) => {
    const fire = { scheduleId: c.schedule.id, fireTime: c.fireTime };
    try {
      const { taskId } = await deps.jobs.trigger(c.schedule.tenantId, c.schedule.jobId, c.schedule.mode, {
        kind: 'schedule',
        scheduleId: c.schedule.id,
        fireTime: c.fireTime.toISOString(),
      });
      settled.push({ ...fire, outcome: { taskId } });
    } catch (err) {
      settled.push({ ...fire, outcome: { reason: `the run did not start: ${(err as Error).message}` } });
      // The job is gone (its announcement was lost, say): its schedules go with it.
      if ((err as { status?: number }).status === 404)
        await deps.schedules.deleteOfJob(c.schedule.tenantId, c.schedule.jobId);
    }
  });
  await deps.schedules.settleFires(settled);
  const fired = settled.filter((f) => 'taskId' in f.outcome).length;
  const skipped = settled.length - fired;
  return { claimed: claimed.length, fired, skipped };
}

/** Runs `work` on every item, at most `limit` at once (a pool of workers over one list). */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
