import { decodeBody, topology } from '@collect/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listTasks, startRun } from '../../functions/collect/src/app/runs';
import { catalogEntries } from '../../functions/collect/src/catalog';
import { CollectorCatalog } from '../../functions/register/src/adapters/catalog.mysql';
import { ChainSteps } from '../../functions/register/src/adapters/chain.mysql';
import { RabbitJobAnnouncer } from '../../functions/register/src/adapters/job-announcer.rabbitmq';
import { JobStore } from '../../functions/register/src/adapters/jobs.mysql';
import { ReleaseStore } from '../../functions/register/src/adapters/releases.mysql';
import { listCollectors, registerCollector } from '../../functions/register/src/app/catalog';
import { onTaskFinished, taskFinishedSchema } from '../../functions/register/src/app/chains';
import {
  createJob,
  deleteJob,
  getJob,
  listJobs,
  triggerJob,
  updateJob,
} from '../../functions/register/src/app/jobs';
import { putRelease } from '../../functions/register/src/app/releases';
import type { TaskStarter } from '../../functions/register/src/ports';
import { engineDriver } from '../support/engine-driver';
import { FakeTreeSource } from '../support/fake-tree-source';
import { createTestEnv, type TestEnv } from '../support/test-env';

let env: TestEnv;
let deps: {
  catalog: CollectorCatalog;
  jobs: JobStore;
  starter: TaskStarter;
  chain: ChainSteps;
  releases: ReleaseStore;
  announcer: RabbitJobAnnouncer;
};
let tenant: string;
let seq = 0;

beforeAll(async () => {
  env = await createTestEnv();
  // collect's POST /api/tasks, called in-process here (over HTTP in the e2e test).
  const starter: TaskStarter = {
    start: (tenantId, run) => startRun(env.services, tenantId, run, { internal: true }),
  };
  deps = {
    catalog: new CollectorCatalog(env.db),
    jobs: new JobStore(env.db),
    starter,
    chain: new ChainSteps(env.db),
    releases: new ReleaseStore(env.db),
    announcer: new RabbitJobAnnouncer(env.services.channel, topology(env.config.AMQP_PREFIX)),
  };
  // What platform-collect announces when it is set up.
  for (const entry of catalogEntries(env.config)) await registerCollector(deps.catalog, entry);
});
afterAll(async () => {
  await env?.close();
});
beforeEach(() => {
  seq += 1;
  tenant = `reg-${process.pid}-${seq}`;
});

const testrail = (extra: Record<string, unknown> = {}) => ({
  name: 'Nightly QA',
  collector: 'testrail',
  source: 'qa',
  settings: { baseUrl: 'https://acme.testrail.io', user: 'bot@acme.io', apiKey: 'k3y-secret', projectId: 1 },
  ...extra,
});

describe('the collector catalog', () => {
  it('lists every collector a service registered, with its settings schema and release status', async () => {
    const { items } = await listCollectors(deps);
    const byType = new Map(items.map((i) => [i.type, i]));
    expect([...byType.keys()]).toEqual(expect.arrayContaining(['testrail', 'http-tree']));
    const tr = byType.get('testrail');
    expect(tr?.stable).toBe('1');
    expect(tr?.versions[0]).toMatchObject({
      version: '1',
      status: 'stable',
      secrets: ['apiKey'],
      settingsSchema: { type: 'object', required: ['baseUrl', 'user', 'apiKey', 'projectId'] },
    });
    expect(byType.get('push-import')).toBeUndefined();
  });

  it('keeps the first version of a type stable; a later one is available; a bad entry is a 400', async () => {
    await registerCollector(deps.catalog, {
      type: 'demo',
      version: '1',
      route: 'run-shard',
      settingsSchema: {},
      secrets: [],
    });
    await registerCollector(deps.catalog, {
      type: 'demo',
      version: '2',
      route: 'run-shard',
      settingsSchema: {},
      secrets: [],
    });
    const demo = (await listCollectors(deps)).items.find((i) => i.type === 'demo');
    expect(demo?.versions.map((v) => [v.version, v.status])).toEqual([
      ['1', 'stable'],
      ['2', 'available'],
    ]);
    await expect(
      registerCollector(deps.catalog, { type: 'Bad Type', version: '', extra: 1 }),
    ).rejects.toMatchObject({
      status: 400,
    });
  });
});

describe('jobs', () => {
  it('creates a job as version 1, never shows its secrets, and lists it', async () => {
    const job = await createJob(deps, tenant, testrail());
    expect(job).toMatchObject({
      version: 1,
      name: 'Nightly QA',
      defaultMode: 'FULL',
      enabled: true,
      dependsOn: [],
    });
    expect(job.settings.apiKey).toBe('***');
    expect(JSON.stringify(await getJob(deps, tenant, job.id))).not.toContain('k3y-secret');
    const list = await listJobs(deps, tenant, { limit: 10 });
    expect(list.items.map((j) => j.id)).toEqual([job.id]);
    await expect(getJob(deps, 'another-tenant', job.id)).rejects.toMatchObject({ status: 404 });
  });

  it('lists every problem in one 400 and writes nothing', async () => {
    const err = await createJob(deps, tenant, {
      name: ' ',
      collector: 'testrail',
      source: 'bad source!',
      settings: { baseUrl: 5, projectId: 'x', extra: true },
      defaultMode: 'SOMETIMES',
      dependsOn: ['not-an-id'],
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    const paths = (err as { details: { path: string }[] }).details.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'source',
        'defaultMode',
        'dependsOn[0]',
        'settings.baseUrl',
        'settings.projectId',
        'settings.user',
        'settings.apiKey',
        'settings.extra',
      ]),
    );
    const unknown = await createJob(deps, tenant, testrail({ collector: 'nope' })).catch((e: unknown) => e);
    expect((unknown as { details: { path: string }[] }).details.map((p) => p.path)).toEqual(['collector']);
    expect((await listJobs(deps, tenant, { limit: 10 })).items).toEqual([]);
  });

  it('makes a new version on every change, keeps the history, and disables on delete', async () => {
    const job = await createJob(deps, tenant, testrail());
    const v2 = await updateJob(
      deps,
      tenant,
      job.id,
      testrail({ name: 'Renamed', defaultMode: 'INCREMENTAL' }),
    );
    expect(v2).toMatchObject({ id: job.id, version: 2, name: 'Renamed', defaultMode: 'INCREMENTAL' });
    const [rows] = await env.db.query(
      'SELECT version FROM register_job_version WHERE job_id = ? ORDER BY version',
      [job.id],
    );
    expect((rows as { version: number }[]).map((r) => r.version)).toEqual([1, 2]);
    expect(await deleteJob(deps, tenant, job.id)).toEqual({ id: job.id, enabled: false });
    expect((await getJob(deps, tenant, job.id)).enabled).toBe(false);
    await expect(updateJob(deps, tenant, job.id, testrail())).rejects.toMatchObject({ status: 404 });
    // Deleting it again answers the same (and announces it again).
    expect(await deleteJob(deps, tenant, job.id)).toEqual({ id: job.id, enabled: false });
  });

  it('refuses dependencies on unknown jobs, on itself, and any change that closes a cycle (naming it)', async () => {
    const a = await createJob(deps, tenant, testrail({ name: 'A' }));
    const b = await createJob(deps, tenant, testrail({ name: 'B', dependsOn: [a.id] }));
    const c = await createJob(deps, tenant, testrail({ name: 'C', dependsOn: [b.id] }));
    const cycle = await updateJob(deps, tenant, a.id, testrail({ name: 'A', dependsOn: [c.id] })).catch(
      (e: unknown) => e,
    );
    expect(cycle).toMatchObject({
      status: 400,
      message: expect.stringContaining(`${a.id} → ${c.id} → ${b.id} → ${a.id}`),
    });
    expect((await getJob(deps, tenant, a.id)).version).toBe(1);
    const self = await updateJob(deps, tenant, a.id, testrail({ dependsOn: [a.id] })).catch(
      (e: unknown) => e,
    );
    expect((self as { details: { code: string }[] }).details[0]?.code).toBe('cycle');
    const unknown = await createJob(deps, tenant, testrail({ dependsOn: [crypto.randomUUID()] })).catch(
      (e: unknown) => e,
    );
    expect((unknown as { details: { code: string }[] }).details[0]?.code).toBe('unknown_job');
    // A job others depend on cannot be deleted until they no longer do.
    await expect(deleteJob(deps, tenant, b.id)).rejects.toMatchObject({
      status: 409,
      details: { dependants: [c.id] },
    });
  });

  it('pages the list newest first with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await createJob(deps, tenant, testrail({ name: `J${i}` }))).id);
    const first = await listJobs(deps, tenant, { limit: 2 });
    const second = await listJobs(deps, tenant, { limit: 2, cursor: first.nextCursor as string });
    const third = await listJobs(deps, tenant, { limit: 2, cursor: second.nextCursor as string });
    const seen = [...first.items, ...second.items, ...third.items].map((j) => j.id);
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(third.nextCursor).toBeNull();
    await expect(listJobs(deps, tenant, { limit: 2, cursor: 'garbage' })).rejects.toMatchObject({
      status: 400,
    });
  });
});

describe('triggering a job', () => {
  it('starts a run through collect that records its job, version, chain and trigger, and runs it', async () => {
    const src = new FakeTreeSource();
    await src.start();
    try {
      src.addDirectory('d', 'Directory');
      src.addCase('c', 'd', 'Case');
      const job = await createJob(deps, tenant, {
        name: 'Tree',
        collector: 'http-tree',
        source: `tree-${seq}`,
        settings: src.settings(),
        strategy: { shards: 1 },
      });
      const { taskId, chainId } = await triggerJob(deps, tenant, job.id, {});
      const d = engineDriver(env, tenant);
      expect(await d.view(taskId)).toMatchObject({
        collector: 'http-tree',
        collectorVersion: '1',
        mode: 'FULL',
        origin: { jobId: job.id, jobVersion: 1, chainId, trigger: { kind: 'manual' } },
      });
      // One run per source at a time: collect's refusal is the answer.
      await expect(triggerJob(deps, tenant, job.id, { mode: 'INCREMENTAL' })).rejects.toMatchObject({
        status: 409,
      });
      await d.runUntil('the run to complete', async () => (await d.view(taskId)).state === 'COMPLETED');
      const byJob = await listTasks(env.services, tenant, { jobId: job.id, limit: 10 });
      expect(byJob.items.map((t) => t.id)).toEqual([taskId]);
      const byChain = await listTasks(env.services, tenant, { chainId, limit: 10 });
      expect(byChain.items.map((t) => t.id)).toEqual([taskId]);
    } finally {
      await src.stop();
    }
  });

  it('answers 404 for an unknown or disabled job and 400 for a bad trigger, starting nothing', async () => {
    await expect(triggerJob(deps, tenant, crypto.randomUUID(), {})).rejects.toMatchObject({ status: 404 });
    const job = await createJob(deps, tenant, testrail());
    await expect(triggerJob(deps, tenant, job.id, { mode: 'SOMETIMES', extra: 1 })).rejects.toMatchObject({
      status: 400,
    });
    await deleteJob(deps, tenant, job.id);
    await expect(triggerJob(deps, tenant, job.id, {})).rejects.toMatchObject({ status: 404 });
    expect((await listTasks(env.services, tenant, { jobId: job.id, limit: 10 })).items).toEqual([]);
  });
});

describe('dependencies between jobs', () => {
  /** The ends of jobs' runs collect announced (queue task-finished), as the register hears them. */
  async function announced() {
    const out = [];
    for (;;) {
      const m = await env.channel.get(topology(env.config.AMQP_PREFIX).queue('task-finished'), {
        noAck: true,
      });
      if (m === false) return out;
      const e = taskFinishedSchema.parse(
        JSON.parse(decodeBody(m.content, m.properties.contentEncoding, 'm')),
      );
      // Earlier tests' runs end too: only this test's tenant is heard here.
      if (e.tenantId === tenant) out.push(e);
    }
  }

  it('runs A → B → C in order in one chain, and an upstream run that does not complete starts nothing', async () => {
    const src = new FakeTreeSource();
    await src.start();
    try {
      src.addDirectory('d', 'Directory');
      src.addCase('c', 'd', 'Case');
      const body = (name: string, dependsOn: string[] = [], settings = src.settings()) => ({
        name,
        collector: 'http-tree',
        source: `chain-${seq}-${name}`,
        settings,
        strategy: { shards: 1 },
        dependsOn,
      });
      const a = await createJob(deps, tenant, body('A'));
      const b = await createJob(deps, tenant, body('B', [a.id]));
      const c = await createJob(deps, tenant, body('C', [b.id]));
      const d = engineDriver(env, tenant);
      const { taskId, chainId } = await triggerJob(deps, tenant, a.id, {});
      await d.runUntil('A to complete', async () => (await d.view(taskId)).state === 'COMPLETED');
      let events = await announced();
      expect(events).toEqual([expect.objectContaining({ taskId, jobId: a.id, chainId, state: 'COMPLETED' })]);
      // Heard twice (at-least-once): B starts once.
      const [first] = events;
      const once = await onTaskFinished(deps, first as never);
      expect(once.triggered).toHaveLength(1);
      expect((await onTaskFinished(deps, first as never)).triggered).toEqual([]);
      const bTask = once.triggered[0] as string;
      expect(await d.view(bTask)).toMatchObject({
        origin: { jobId: b.id, chainId, trigger: { kind: 'upstream', taskId } },
      });
      await d.runUntil('B to complete', async () => (await d.view(bTask)).state === 'COMPLETED');
      events = await announced();
      const cTask = (await onTaskFinished(deps, events[0] as never)).triggered[0] as string;
      await d.runUntil('C to complete', async () => (await d.view(cTask)).state === 'COMPLETED');
      await announced();
      const chain = await listTasks(env.services, tenant, { chainId, limit: 10 });
      expect(chain.items.map((t) => t.origin?.jobId).reverse()).toEqual([a.id, b.id, c.id]);

      // A fails (its token is refused): B does not start, and says why.
      await updateJob(deps, tenant, a.id, body('A', [], src.settings({ token: 'wrong' })));
      const failing = await triggerJob(deps, tenant, a.id, {});
      await d.runUntil('A to fail', async () => (await d.view(failing.taskId)).state === 'FAILED');
      const [end] = await announced();
      expect(await onTaskFinished(deps, end as never)).toEqual({ triggered: [], held: [b.id] });
      const steps = await deps.chain.ofJob(tenant, b.id);
      expect(steps[0]).toMatchObject({
        outcome: 'NOT_TRIGGERED',
        reason: expect.stringMatching(/ended FAILED/),
      });
    } finally {
      await src.stop();
    }
  });
});

describe('a job keeps its own watermark', () => {
  it("starts its INCREMENTAL runs where its own last COMPLETED run started, not another job's", async () => {
    const src = new FakeTreeSource();
    await src.start();
    try {
      src.addDirectory('d', 'Directory');
      src.addCase('c', 'd', 'Case');
      const source = `wm-${seq}`;
      const body = (name: string) => ({
        name,
        collector: 'http-tree',
        source,
        settings: src.settings(),
        strategy: { shards: 1 },
      });
      const one = await createJob(deps, tenant, body('one'));
      const two = await createJob(deps, tenant, body('two'));
      const d = engineDriver(env, tenant);
      const run = async (jobId: string, mode: string) => {
        const { taskId } = await triggerJob(deps, tenant, jobId, { mode });
        await d.runUntil('the run to complete', async () => (await d.view(taskId)).state === 'COMPLETED');
        return d.view(taskId);
      };
      expect((await run(one.id, 'FULL')).since).toBeNull();
      expect((await run(one.id, 'INCREMENTAL')).since).not.toBeNull();
      // Same source and collector, another job: it has no watermark of its own yet.
      expect((await run(two.id, 'INCREMENTAL')).since).toBeNull();
      // Nor has the source itself, for runs no job started.
      const { taskId } = await startRun(env.services, tenant, {
        collector: 'http-tree',
        source,
        settings: src.settings(),
        mode: 'INCREMENTAL',
      });
      await d.runUntil('the run to complete', async () => (await d.view(taskId)).state === 'COMPLETED');
      expect((await d.view(taskId)).since).toBeNull();
    } finally {
      await src.stop();
    }
  });
});

describe('what the probe of a clean clone found', () => {
  it('refuses a strategy its collector would refuse, listing it with the other problems', async () => {
    const err = await createJob(deps, tenant, {
      ...testrail({ strategy: { shards: -1, pageSize: 1.5, bogus: 1 } }),
      name: 5,
      dependsOn: ['00000000-0000-4000-8000-000000000000'],
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    const paths = (err as { details: { path: string }[] }).details.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'strategy.shards',
        'strategy.pageSize',
        'strategy.bogus',
        'dependsOn[0]',
      ]),
    );
  });

  it('keeps a stored secret when a job is sent back as it was shown (***), and refuses *** with nothing behind it', async () => {
    const job = await createJob(deps, tenant, testrail());
    const shown = await getJob(deps, tenant, job.id);
    expect(shown.settings.apiKey).toBe('***');
    const { id: _, release: __, upstreamEvents: ___, ...body } = shown as Record<string, unknown>;
    const again = await updateJob(deps, tenant, job.id, {
      name: body.name,
      collector: body.collector,
      source: body.source,
      settings: body.settings,
      defaultMode: body.defaultMode,
      dependsOn: body.dependsOn,
    });
    expect(again.version).toBe(2);
    const stored = await deps.jobs.get(tenant, job.id);
    expect(stored?.settings.apiKey).toBe('k3y-secret');
    // A secret goes where the settings send it: changed settings must bring it again.
    const moved = await updateJob(deps, tenant, job.id, {
      ...testrail(),
      settings: { ...(body.settings as Record<string, unknown>), baseUrl: 'https://attacker.example' },
    }).catch((e: unknown) => e);
    expect(moved).toMatchObject({
      status: 400,
      details: [expect.objectContaining({ path: 'settings.apiKey' })],
    });
    // *** is never a secret itself: a new job cannot have it.
    await expect(
      createJob(deps, tenant, testrail({ settings: { ...testrail().settings, apiKey: '***' } })),
    ).rejects.toMatchObject({ status: 400, details: [expect.objectContaining({ path: 'settings.apiKey' })] });
    const err = await updateJob(deps, tenant, job.id, {
      name: 'Tree',
      collector: 'http-tree',
      source: 'qa',
      settings: { baseUrl: 'https://tree.example', token: '***' },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    expect((await deps.jobs.get(tenant, job.id))?.version).toBe(2);
  });

  it('refuses RANGE as a default mode (a range is given per trigger)', async () => {
    await expect(createJob(deps, tenant, testrail({ defaultMode: 'RANGE' }))).rejects.toMatchObject({
      status: 400,
      details: [expect.objectContaining({ path: 'defaultMode' })],
    });
  });

  it('ends a release when the job changes collector', async () => {
    const job = await createJob(deps, tenant, testrail());
    await putRelease(deps, tenant, job.id, { version: '2', percent: 100 });
    await updateJob(deps, tenant, job.id, {
      name: 'Tree',
      collector: 'http-tree',
      source: 'qa',
      settings: { baseUrl: 'https://tree.example' },
    });
    expect((await getJob(deps, tenant, job.id)).release).toBeNull();
  });

  it('never leaves an enabled job depending on a disabled one, however a delete and a new dependant race', async () => {
    for (let round = 0; round < 20; round += 1) {
      const upstream = await createJob(deps, tenant, testrail({ name: `up ${round}` }));
      const results = await Promise.allSettled([
        deleteJob(deps, tenant, upstream.id),
        createJob(deps, tenant, testrail({ name: `down ${round}`, dependsOn: [upstream.id] })),
      ]);
      const [deleted, created] = results;
      // One of the two is refused: both may not win.
      expect(deleted.status === 'fulfilled' && created.status === 'fulfilled').toBe(false);
    }
    const [rows] = await env.db.query(
      `SELECT d.id FROM register_job d JOIN register_job u ON JSON_CONTAINS(d.depends_on, JSON_QUOTE(u.id))
        WHERE d.tenant_id = ? AND d.enabled = 1 AND u.enabled = 0`,
      [tenant],
    );
    expect(rows).toEqual([]);
  });

  it("refuses a trigger naming a schedule's fire, and a run naming its origin, unless a service signed the call", async () => {
    const job = await createJob(deps, tenant, testrail());
    const trigger = {
      kind: 'schedule',
      scheduleId: crypto.randomUUID(),
      fireTime: '2026-11-30T14:00:00.000Z',
    };
    await expect(triggerJob(deps, tenant, job.id, { trigger })).rejects.toMatchObject({
      status: 400,
      details: [expect.objectContaining({ path: 'trigger', code: 'internal_only' })],
    });
    await expect(
      startRun(env.services, tenant, {
        collector: 'testrail',
        source: 'forged',
        mode: 'FULL',
        settings: { baseUrl: 'https://acme.testrail.io', user: 'u', apiKey: 'k', projectId: 1 },
        origin: {
          jobId: job.id,
          jobVersion: 1,
          chainId: crypto.randomUUID(),
          trigger: { kind: 'manual' },
          triggerKey: 'schedule:forged',
        },
      }),
    ).rejects.toMatchObject({ status: 400, details: [expect.objectContaining({ path: 'origin' })] });
    expect((await listTasks(env.services, tenant, { jobId: job.id, limit: 10 })).items).toEqual([]);
  });

  it('announces a disabled job (the scheduler deletes its schedules) every time it is deleted', async () => {
    const job = await createJob(deps, tenant, testrail());
    await deleteJob(deps, tenant, job.id);
    await deleteJob(deps, tenant, job.id);
    const queue = topology(env.config.AMQP_PREFIX).queue('job-disabled');
    const heard: unknown[] = [];
    for (
      let m = await env.channel.get(queue, { noAck: true });
      m !== false;
      m = await env.channel.get(queue, { noAck: true })
    )
      heard.push(JSON.parse(decodeBody(m.content, m.properties.contentEncoding, 'm')));
    expect(heard.filter((e) => (e as { jobId: string }).jobId === job.id)).toEqual([
      { tenantId: tenant, jobId: job.id },
      { tenantId: tenant, jobId: job.id },
    ]);
    await expect(deleteJob(deps, tenant, crypto.randomUUID())).rejects.toMatchObject({ status: 404 });
  });
});
