import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listTasks, startRun } from '../../functions/collect/src/app/runs';
import { catalogEntries } from '../../functions/collect/src/catalog';
import { CollectorCatalog } from '../../functions/register/src/adapters/catalog.mysql';
import { JobStore } from '../../functions/register/src/adapters/jobs.mysql';
import { ReleaseStore } from '../../functions/register/src/adapters/releases.mysql';
import { registerCollector } from '../../functions/register/src/app/catalog';
import { createJob, getJob, triggerJob } from '../../functions/register/src/app/jobs';
import { ScheduleStore } from '../../functions/scheduler/src/adapters/schedules.mysql';
import {
  createSchedule,
  getSchedule,
  listSchedules,
  onJobDisabled,
  setPaused,
  tick,
} from '../../functions/scheduler/src/app/schedules';
import { decideTick } from '../../functions/scheduler/src/domain/schedule';
import type { Jobs } from '../../functions/scheduler/src/ports';
import { engineDriver } from '../support/engine-driver';
import { FakeTreeSource } from '../support/fake-tree-source';
import { createTestEnv, type TestEnv } from '../support/test-env';

let env: TestEnv;
let src: FakeTreeSource;
let tenant: string;
let seq = 0;
let register: Parameters<typeof createJob>[0] & Parameters<typeof triggerJob>[0];

beforeAll(async () => {
  env = await createTestEnv();
  register = {
    catalog: new CollectorCatalog(env.db),
    jobs: new JobStore(env.db),
    // collect's POST /api/tasks, in-process here (over HTTP when deployed).
    starter: { start: (tenantId, run) => startRun(env.services, tenantId, run, { internal: true }) },
    releases: new ReleaseStore(env.db),
  };
  for (const entry of catalogEntries(env.config)) await registerCollector(register.catalog, entry);
  src = new FakeTreeSource();
  await src.start();
  src.addDirectory('d', 'Directory');
  src.addCase('c1', 'd', 'Case one');
});
afterAll(async () => {
  await src?.stop();
  await env?.close();
});
beforeEach(() => {
  seq += 1;
  tenant = `sch-${process.pid}-${seq}`;
});
// Ticks take every tenant's due schedules: a test's schedules must not fire in the next test.
afterEach(async () => {
  await env.db.query('UPDATE scheduler_schedule SET deleted = 1, next_fire_at = NULL WHERE tenant_id = ?', [
    tenant,
  ]);
});

/** The register's jobs as the scheduler reaches them (in-process here; over HTTP when deployed). */
const registerJobs: Jobs = {
  exists: async (tenantId, jobId) =>
    (await getJob(register, tenantId, jobId).catch(() => undefined))?.enabled === true,
  trigger: (tenantId, jobId, mode, trigger) =>
    triggerJob(register, tenantId, jobId, { mode, trigger }, { internal: true }),
};

const deps = (jobs: Jobs = registerJobs, now = new Date()) => ({
  schedules: new ScheduleStore(env.db),
  jobs,
  graceMs: 120_000,
  batch: 500,
  concurrency: 4,
  stuckFireMs: 60_000,
  now: () => now,
});

const job = async () =>
  createJob(register, tenant, {
    name: 'Tree',
    collector: 'http-tree',
    source: `sch-${seq}`,
    settings: src.settings(),
    strategy: { shards: 1 },
  });

describe('schedules', () => {
  it('are created with their next five fire times; every problem is one 400', async () => {
    const j = await job();
    const now = new Date('2026-11-30T10:02:00Z');
    const s = await createSchedule(deps(registerJobs, now), tenant, {
      jobId: j.id,
      cron: '*/5 * * * *',
      timezone: 'Europe/Berlin',
      mode: 'FULL',
    });
    expect(s.nextFireTimes.map((d) => d.toISOString())).toEqual([
      '2026-11-30T10:05:00.000Z',
      '2026-11-30T10:10:00.000Z',
      '2026-11-30T10:15:00.000Z',
      '2026-11-30T10:20:00.000Z',
      '2026-11-30T10:25:00.000Z',
    ]);
    const err = await createSchedule(deps(), tenant, {
      jobId: crypto.randomUUID(),
      cron: '61 * * *',
      timezone: 'Mars/Olympus',
      misfire: 'SOMETIMES',
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    const paths = (err as { details: { path: string }[] }).details.map((p) => p.path).sort();
    expect(paths).toEqual(['cron', 'jobId', 'misfire', 'timezone']);
  });

  it('fire through the register and collect: the task records its schedule and instant; a fire while the previous run goes on is skipped with the reason', async () => {
    const j = await job();
    const created = new Date('2026-11-30T10:02:00Z');
    const s = await createSchedule(deps(registerJobs, created), tenant, {
      jobId: j.id,
      cron: '*/5 * * * *',
      mode: 'FULL',
    });
    expect(await tick(deps(), new Date('2026-11-30T10:04:59Z'))).toMatchObject({ claimed: 0 });
    expect(await tick(deps(), new Date('2026-11-30T10:05:20Z'))).toMatchObject({ claimed: 1, fired: 1 });
    const [first] = (await listTasks(env.services, tenant, { jobId: j.id, limit: 10 })).items;
    expect(first?.origin).toMatchObject({
      jobId: j.id,
      trigger: { kind: 'schedule', scheduleId: s.id, fireTime: '2026-11-30T10:05:00.000Z' },
    });
    // The first run has not run yet (nobody drove the queues): the next fire finds its source busy.
    expect(await tick(deps(), new Date('2026-11-30T10:10:10Z'))).toMatchObject({
      claimed: 1,
      fired: 0,
      skipped: 1,
    });
    const view = await getSchedule(deps(), tenant, s.id);
    expect(view.fires.map((f) => [f.state, String(f.reason ?? '')])).toEqual([
      ['SKIPPED', expect.stringMatching(/did not start: .*busy/)],
      ['FIRED', ''],
    ]);
    const d = engineDriver(env, tenant);
    await d.runUntil(
      'the fired run to complete',
      async () => (await d.view(first?.id as string)).state === 'COMPLETED',
    );
  });

  it('fire each due instant exactly once when two ticks race over many schedules', async () => {
    const triggered: string[] = [];
    const counting: Jobs = {
      exists: async () => true,
      trigger: async (_t, jobId, _m, trigger) => {
        triggered.push(`${trigger.scheduleId}@${trigger.fireTime}`);
        return { taskId: jobId };
      },
    };
    const created = new Date('2026-11-30T09:59:30Z');
    const ids: string[] = [];
    for (let i = 0; i < 1000; i += 1)
      ids.push(
        (
          await createSchedule(deps(counting, created), tenant, {
            jobId: crypto.randomUUID(),
            cron: '0 10 * * *',
          })
        ).id,
      );
    const at = new Date('2026-11-30T10:00:05Z');
    const small = { ...deps(counting), batch: 40 };
    const results = await Promise.all([
      (async () => {
        let n = 0;
        for (let r = await tick(small, at); r.claimed > 0; r = await tick(small, at)) n += r.fired;
        return n;
      })(),
      (async () => {
        let n = 0;
        for (let r = await tick(small, at); r.claimed > 0; r = await tick(small, at)) n += r.fired;
        return n;
      })(),
    ]);
    expect(results[0] + results[1]).toBe(1000);
    expect(new Set(triggered).size).toBe(1000);
    expect(triggered.length).toBe(1000);
    const [rows] = await env.db.query(
      "SELECT COUNT(*) AS n FROM scheduler_fire WHERE state = 'FIRED' AND schedule_id IN (?)",
      [ids],
    );
    expect(Number((rows as { n: number }[])[0]?.n)).toBe(1000);
  });

  it('triggers again, under the same key, a fire its tick claimed and then died on: one task, recorded FIRED', async () => {
    const j = await job();
    const s = await createSchedule(deps(registerJobs, new Date('2026-11-30T11:58:00Z')), tenant, {
      jobId: j.id,
      cron: '0 12 * * *',
      mode: 'FULL',
    });
    const at = new Date('2026-11-30T12:00:03Z');
    // A tick claimed the fire and triggered the job, then died before it recorded the task.
    const [claimed] = await new ScheduleStore(env.db).claimDue(at, 10, (x) =>
      decideTick(x, x.nextFireAt as Date, at, 120_000),
    );
    expect(claimed?.schedule.id).toBe(s.id);
    const trigger = {
      kind: 'schedule' as const,
      scheduleId: s.id,
      fireTime: claimed?.fireTime.toISOString() as string,
    };
    const started = await registerJobs.trigger(tenant, j.id, 'FULL', trigger);
    expect((await getSchedule(deps(), tenant, s.id)).fires[0]).toMatchObject({ state: 'FIRING' });
    // Not yet stale: left alone. Stale: the next tick triggers it again and gets the same task.
    expect(await tick(deps(), at)).toMatchObject({ claimed: 0 });
    expect(await tick({ ...deps(), stuckFireMs: 0 }, at)).toMatchObject({ claimed: 1, fired: 1 });
    expect((await getSchedule(deps(), tenant, s.id)).fires[0]).toMatchObject({
      state: 'FIRED',
      taskId: started.taskId,
    });
    const tasks = await listTasks(env.services, tenant, { jobId: j.id, limit: 10 });
    expect(tasks.items.map((t) => t.id)).toEqual([started.taskId]);
  });

  it('after an outage, FIRE_ONCE fires once for everything missed and SKIP waits; a paused schedule does not fire', async () => {
    const fired: string[] = [];
    const recording: Jobs = {
      exists: async () => true,
      trigger: async (_t, _j, _m, trigger) => {
        fired.push(`${trigger.scheduleId}@${trigger.fireTime}`);
        return { taskId: crypto.randomUUID() };
      },
    };
    const created = new Date('2026-11-30T08:00:30Z');
    const once = await createSchedule(deps(recording, created), tenant, {
      jobId: crypto.randomUUID(),
      cron: '*/10 * * * *',
      misfire: 'FIRE_ONCE',
    });
    const skip = await createSchedule(deps(recording, created), tenant, {
      jobId: crypto.randomUUID(),
      cron: '*/10 * * * *',
      misfire: 'SKIP',
    });
    const paused = await createSchedule(deps(recording, created), tenant, {
      jobId: crypto.randomUUID(),
      cron: '*/10 * * * *',
    });
    await setPaused(deps(recording, created), tenant, paused.id, true);
    // The scheduler was down from 08:05 to 09:05.
    await tick(deps(recording), new Date('2026-11-30T09:05:00Z'));
    expect(fired).toEqual([`${once.id}@2026-11-30T08:10:00.000Z`]);
    const onceView = await getSchedule(deps(recording), tenant, once.id);
    expect(onceView.fires[0]).toMatchObject({ state: 'FIRED', missed: 5 });
    const skipView = await getSchedule(deps(recording), tenant, skip.id);
    expect(skipView.fires[0]).toMatchObject({ state: 'SKIPPED', missed: 6 });
    expect(skipView.nextFireAt?.toISOString()).toBe('2026-11-30T09:10:00.000Z');
    expect((await getSchedule(deps(recording), tenant, paused.id)).fires).toEqual([]);
  });
});

describe('what the probe of a clean clone found', () => {
  it("deletes a disabled job's schedules when the register announces it, or when a fire finds the job gone", async () => {
    const a = await job();
    const b = await job();
    const created = new Date('2026-11-30T13:58:00Z');
    const sa = await createSchedule(deps(registerJobs, created), tenant, { jobId: a.id, cron: '0 14 * * *' });
    const sb = await createSchedule(deps(registerJobs, created), tenant, { jobId: b.id, cron: '0 14 * * *' });
    expect(await onJobDisabled(deps(), { tenantId: tenant, jobId: a.id })).toEqual({ deleted: 1 });
    expect(await onJobDisabled(deps(), { tenantId: tenant, jobId: a.id })).toEqual({ deleted: 0 });
    await expect(getSchedule(deps(), tenant, sa.id)).rejects.toMatchObject({ status: 404 });
    // b's announcement was lost: its next fire finds the job gone (404) and deletes the schedule.
    await env.db.query('UPDATE register_job SET enabled = 0 WHERE id = ?', [b.id]);
    expect(await tick(deps(), new Date('2026-11-30T14:00:02Z'))).toMatchObject({ claimed: 1, skipped: 1 });
    await expect(getSchedule(deps(), tenant, sb.id)).rejects.toMatchObject({ status: 404 });
    expect((await new ScheduleStore(env.db).fires(sb.id))[0]).toMatchObject({ state: 'SKIPPED' });
  });

  it('refuses a RANGE schedule (it has no range to run), shows the next fires from the one due, and spells the zone as IANA does', async () => {
    const j = await job();
    const err = await createSchedule(deps(), tenant, { jobId: j.id, cron: '* * * * *', mode: 'RANGE' }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ status: 400, details: [expect.objectContaining({ path: 'mode' })] });
    const s = await createSchedule(deps(registerJobs, new Date('2026-11-30T10:00:30Z')), tenant, {
      jobId: j.id,
      cron: '0 * * * *',
      timezone: 'utc',
    });
    expect(s.timezone).toBe('UTC');
    // Ticked at a later instant (15:00), the schedule is next due at 16:00, and says so at any wall-clock time.
    await tick(
      {
        ...deps(),
        jobs: { exists: async () => true, trigger: async () => ({ taskId: crypto.randomUUID() }) },
      },
      new Date('2026-11-30T15:00:01Z'),
    );
    const view = await getSchedule(deps(registerJobs, new Date('2026-11-30T10:01:00Z')), tenant, s.id);
    expect(view.nextFireAt?.toISOString()).toBe('2026-11-30T16:00:00.000Z');
    expect(view.nextFireTimes[0]?.toISOString()).toBe('2026-11-30T16:00:00.000Z');
  });

  it('pages the list of schedules newest first with a cursor', async () => {
    const j = await job();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1)
      ids.push((await createSchedule(deps(), tenant, { jobId: j.id, cron: `${i} 3 * * *` })).id);
    const first = await listSchedules(deps(), tenant, { jobId: j.id, limit: 2 });
    const second = await listSchedules(deps(), tenant, {
      jobId: j.id,
      limit: 2,
      cursor: first.nextCursor as string,
    });
    const third = await listSchedules(deps(), tenant, {
      jobId: j.id,
      limit: 2,
      cursor: second.nextCursor as string,
    });
    expect(new Set([...first.items, ...second.items, ...third.items].map((s) => s.id))).toEqual(new Set(ids));
    expect(third.nextCursor).toBeNull();
    await expect(listSchedules(deps(), tenant, { limit: 2, cursor: 'zzz' })).rejects.toMatchObject({
      status: 400,
    });
  });
});
