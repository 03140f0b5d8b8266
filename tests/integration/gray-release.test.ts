import { topology } from '@collect/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRun } from '../../functions/collect/src/app/runs';
import { catalogEntries } from '../../functions/collect/src/catalog';
import { CollectorCatalog } from '../../functions/register/src/adapters/catalog.mysql';
import { ChainSteps } from '../../functions/register/src/adapters/chain.mysql';
import { JobStore } from '../../functions/register/src/adapters/jobs.mysql';
import { ReleaseStore } from '../../functions/register/src/adapters/releases.mysql';
import { listCollectors, registerCollector } from '../../functions/register/src/app/catalog';
import { onTaskFinished } from '../../functions/register/src/app/chains';
import { createJob, getJob, triggerJob } from '../../functions/register/src/app/jobs';
import { deleteRelease, promoteVersion, putRelease } from '../../functions/register/src/app/releases';
import type { RunRequest, TaskStarter } from '../../functions/register/src/ports';
import { engineDriver } from '../support/engine-driver';
import { FakeTestRail } from '../support/fake-testrail';
import { createTestEnv, type TestEnv } from '../support/test-env';

let env: TestEnv;
let tenant: string;
let seq = 0;
const catalogOf = () => new CollectorCatalog(env.db);

/** The register's deps with a starter of its own: collect in-process, or one that only records. */
const registerWith = (starter: TaskStarter) => ({
  catalog: catalogOf(),
  jobs: new JobStore(env.db),
  releases: new ReleaseStore(env.db),
  chain: new ChainSteps(env.db),
  starter,
});

/** A starter that records the versions runs were sent to (many runs of one source, no 409). */
function recordingStarter() {
  const runs: RunRequest[] = [];
  const starter: TaskStarter = {
    start: async (_tenant, run) => {
      runs.push(run);
      return { taskId: crypto.randomUUID() };
    },
  };
  return { runs, starter, versions: () => runs.map((r) => r.collectorVersion) };
}

beforeAll(async () => {
  env = await createTestEnv();
  for (const entry of catalogEntries(env.config)) await registerCollector(catalogOf(), entry);
});
afterAll(async () => {
  await env?.close();
});
beforeEach(() => {
  seq += 1;
  tenant = `gray-${process.pid}-${seq}`;
});

const testrailJob = (settings: Record<string, unknown>, source = `gray-${seq}`) => ({
  name: 'TestRail',
  collector: 'testrail',
  source,
  settings,
  strategy: { shards: 2, pageSize: 5 },
});
const settings = { baseUrl: 'https://acme.testrail.io', user: 'bot@acme.io', apiKey: 'k', projectId: 1 };

/** Triggers a job `n` times with keys k0…k(n-1) (deterministic routing) and counts version 2. */
async function triggerMany(
  deps: ReturnType<typeof registerWith>,
  jobId: string,
  n: number,
  asTenant = tenant,
) {
  for (let i = 0; i < n; i += 1) await triggerJob(deps, asTenant, jobId, {}, { idempotencyKey: `k${i}` });
}

describe('a job release of a collector version', () => {
  it('routes about `percent` of 200 triggered runs to the candidate, within statistical bounds', async () => {
    const rec = recordingStarter();
    const deps = registerWith(rec.starter);
    const job = await createJob(deps, tenant, testrailJob(settings));
    const put = await putRelease(deps, tenant, job.id, { version: '2', percent: 30 });
    expect(put.release).toMatchObject({ stable: '1', candidate: '2', percent: 30, tenants: [] });
    await triggerMany(deps, job.id, 200);
    const share = rec.versions().filter((v) => v === '2').length / 200;
    // Binomial(200, 0.3): sd 3.2 points; 4 sd either side.
    expect(share).toBeGreaterThan(0.17);
    expect(share).toBeLessThan(0.43);
    expect(new Set(rec.versions())).toEqual(new Set(['1', '2']));
    expect((await getJob(deps, tenant, job.id)).release).toMatchObject({ candidate: '2', percent: 30 });
  });

  it('routes a listed tenant exactly, others not at all; percent 0 and DELETE route everything to stable', async () => {
    const rec = recordingStarter();
    const deps = registerWith(rec.starter);
    const job = await createJob(deps, tenant, testrailJob(settings));
    await putRelease(deps, tenant, job.id, { version: '2', percent: 0, tenants: [tenant] });
    await triggerMany(deps, job.id, 50);
    expect(rec.versions()).toEqual(Array(50).fill('2'));

    rec.runs.length = 0;
    await putRelease(deps, tenant, job.id, { version: '2', percent: 0, tenants: ['someone-else'] });
    await triggerMany(deps, job.id, 50);
    expect(rec.versions()).toEqual(Array(50).fill('1'));

    rec.runs.length = 0;
    await putRelease(deps, tenant, job.id, { version: '2', percent: 100 });
    await triggerMany(deps, job.id, 20);
    expect(rec.versions()).toEqual(Array(20).fill('2'));
    await putRelease(deps, tenant, job.id, { version: '2', percent: 0 });
    rec.runs.length = 0;
    await triggerMany(deps, job.id, 50);
    expect(rec.versions()).toEqual(Array(50).fill('1'));

    await putRelease(deps, tenant, job.id, { version: '2', percent: 100 });
    expect(await deleteRelease(deps, tenant, job.id)).toEqual({ jobId: job.id, release: null });
    rec.runs.length = 0;
    await triggerMany(deps, job.id, 20);
    expect(rec.versions()).toEqual(Array(20).fill('1'));
    expect((await getJob(deps, tenant, job.id)).release).toBeNull();
  });

  it('refuses a bad release with every problem in one 400 and writes nothing; 404 for an unknown job', async () => {
    const deps = registerWith(recordingStarter().starter);
    const job = await createJob(deps, tenant, testrailJob(settings));
    const problemsOf = async (body: unknown) => {
      const err = await putRelease(deps, tenant, job.id, body).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 400 });
      return (err as { details: { path: string; code?: string }[] }).details;
    };
    const many = await problemsOf({ version: '9', percent: 150, tenants: ['bad tenant!'], extra: 1 });
    expect(many.map((p) => p.path)).toEqual(
      expect.arrayContaining(['version', 'percent', 'tenants[0]', 'extra']),
    );
    expect(await problemsOf({ version: '1', percent: 10 })).toEqual([
      expect.objectContaining({ path: 'version', code: 'already_stable' }),
    ]);
    expect((await problemsOf({ version: '2' })).map((p) => p.path)).toEqual(['percent']);
    expect((await problemsOf({ percent: 12.5 })).map((p) => p.path)).toEqual(
      expect.arrayContaining(['version', 'percent']),
    );
    await problemsOf(null);
    await problemsOf('2');
    expect((await getJob(deps, tenant, job.id)).release).toBeNull();
    await expect(
      putRelease(deps, tenant, crypto.randomUUID(), { version: '2', percent: 5 }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      putRelease(deps, 'other-tenant', job.id, { version: '2', percent: 5 }),
    ).rejects.toMatchObject({
      status: 404,
    });
    await expect(deleteRelease(deps, tenant, 'not-an-id')).rejects.toMatchObject({ status: 404 });
  });
});

describe('both versions side by side', () => {
  it('runs version 2 on its own queue; its case documents carry refs as a list and the estimate', async () => {
    const tr = new FakeTestRail();
    await tr.start();
    try {
      const section = tr.addSection('Checkout');
      const one = tr.addCase(section, 'Pay by card', { refs: 'REQ-1, REQ-2', estimate: '3m' });
      const collect: TaskStarter = { start: (t, run) => startRun(env.services, t, run, { internal: true }) };
      const deps = registerWith(collect);
      const d = engineDriver(env, tenant);
      const t = topology(env.config.AMQP_PREFIX);

      const stableJob = await createJob(deps, tenant, testrailJob(tr.settings(), `side-1-${seq}`));
      const canaryJob = await createJob(deps, tenant, testrailJob(tr.settings(), `side-2-${seq}`));
      await putRelease(deps, tenant, canaryJob.id, { version: '2', percent: 100 });
      const a = await triggerJob(deps, tenant, stableJob.id, {});
      const b = await triggerJob(deps, tenant, canaryJob.id, {});
      expect([a.collectorVersion, b.collectorVersion]).toEqual(['1', '2']);

      // Plan both (the plan queue), then look at where their shards wait.
      const plan = t.queue('plan');
      for (let m = await env.channel.get(plan); m !== false; m = await env.channel.get(plan)) {
        env.channel.nack(m, false, true);
        await d.step();
        if ((await env.channel.checkQueue(plan)).messageCount === 0) break;
      }
      // Version 1's queue is split in two partitions; its shards wait in one of them.
      const waiting = async (route: 'testrail@1' | 'testrail@2') => {
        let n = 0;
        for (const q of d.queuesOf(route)) n += (await env.channel.checkQueue(t.queue(q))).messageCount;
        return n;
      };
      expect(await waiting('testrail@1')).toBeGreaterThan(0);
      expect(await waiting('testrail@2')).toBeGreaterThan(0);

      await d.runUntil(
        'both runs to complete',
        async () =>
          ['COMPLETED'].includes((await d.view(a.taskId)).state) &&
          (await d.view(b.taskId)).state === 'COMPLETED',
      );
      expect(await d.view(a.taskId)).toMatchObject({ collectorVersion: '1' });
      expect(await d.view(b.taskId)).toMatchObject({ collectorVersion: '2' });
      const doc = (source: string) =>
        env.mongo.collection('case_detail').findOne({ tenantId: tenant, source, caseId: `C${one}` });
      expect((await doc(`side-1-${seq}`))?.metadata).toMatchObject({ refs: 'REQ-1, REQ-2', estimate: '3m' });
      expect((await doc(`side-2-${seq}`))?.metadata).toMatchObject({
        refs: ['REQ-1', 'REQ-2'],
        estimate: '3m',
      });
    } finally {
      await tr.stop();
    }
  });
});

describe('promotion', () => {
  it('makes a version stable for every job, ends the releases to it, and rolls back the same way', async () => {
    const rec = recordingStarter();
    const deps = registerWith(rec.starter);
    const job = await createJob(deps, tenant, testrailJob(settings));
    await putRelease(deps, tenant, job.id, { version: '2', percent: 50 });
    try {
      expect(await promoteVersion(deps, tenant, 'testrail', '2')).toEqual({ type: 'testrail', stable: '2' });
      const tr = (await listCollectors(deps)).items.find((i) => i.type === 'testrail');
      expect(tr?.stable).toBe('2');
      expect(tr?.versions.map((v) => [v.version, v.status])).toEqual([
        ['1', 'available'],
        ['2', 'stable'],
      ]);
      expect(tr?.versions.find((v) => v.version === '2')?.promotedAt).toBeInstanceOf(Date);
      expect((await getJob(deps, tenant, job.id)).release).toBeNull();
      await triggerMany(deps, job.id, 10);
      expect(rec.versions()).toEqual(Array(10).fill('2'));
      await expect(promoteVersion(deps, tenant, 'testrail', '7')).rejects.toMatchObject({ status: 404 });
      await expect(promoteVersion(deps, tenant, 'nope', '1')).rejects.toMatchObject({ status: 404 });
    } finally {
      await promoteVersion(deps, tenant, 'testrail', '1');
    }
    rec.runs.length = 0;
    await triggerMany(deps, job.id, 10);
    expect(rec.versions()).toEqual(Array(10).fill('1'));
  });

  it('shows a version some release routes runs to as canary in the catalog', async () => {
    const deps = registerWith(recordingStarter().starter);
    const job = await createJob(deps, tenant, testrailJob(settings));
    await putRelease(deps, tenant, job.id, { version: '2', percent: 10 });
    const v2 = (await listCollectors(deps)).items
      .find((i) => i.type === 'testrail')
      ?.versions.find((v) => v.version === '2');
    expect(v2).toMatchObject({ status: 'canary', route: 'testrail@2' });
    await deleteRelease(deps, tenant, job.id);
  });
});

describe('releases and promotions racing, and replays', () => {
  it('never leaves a release to the stable version, however a release and a promotion race', async () => {
    const deps = registerWith(recordingStarter().starter);
    const job = await createJob(deps, tenant, testrailJob(settings));
    try {
      for (let round = 0; round < 10; round += 1) {
        await promoteVersion(deps, tenant, 'testrail', '1');
        await deleteRelease(deps, tenant, job.id);
        await Promise.allSettled([
          putRelease(deps, tenant, job.id, { version: '2', percent: 50 }),
          promoteVersion(deps, tenant, 'testrail', '2'),
        ]);
        const release = (await getJob(deps, tenant, job.id)).release;
        expect(release === null || release.candidate !== release.stable).toBe(true);
      }
    } finally {
      await promoteVersion(deps, tenant, 'testrail', '1');
    }
  });

  it('answers a trigger sent again with the version its task runs, whatever the release says now', async () => {
    const collect: TaskStarter = { start: (t, run) => startRun(env.services, t, run, { internal: true }) };
    const deps = registerWith(collect);
    const job = await createJob(deps, tenant, testrailJob(settings));
    await putRelease(deps, tenant, job.id, { version: '2', percent: 0 });
    const first = await triggerJob(deps, tenant, job.id, {}, { idempotencyKey: 'k1' });
    await putRelease(deps, tenant, job.id, { version: '2', percent: 100 });
    const again = await triggerJob(deps, tenant, job.id, {}, { idempotencyKey: 'k1' });
    expect(first.collectorVersion).toBe('1');
    expect(again).toEqual(first);
  });
});

describe('one run per trigger', () => {
  it('answers a trigger sent again with the same Idempotency-Key with the task the first one started', async () => {
    const collect: TaskStarter = { start: (t, run) => startRun(env.services, t, run, { internal: true }) };
    const deps = registerWith(collect);
    const job = await createJob(deps, tenant, testrailJob(settings));
    const first = await triggerJob(deps, tenant, job.id, {}, { idempotencyKey: 'nightly-2026-11-30' });
    const again = await triggerJob(deps, tenant, job.id, {}, { idempotencyKey: 'nightly-2026-11-30' });
    expect(again).toEqual(first);
    // Without the key, a second trigger is a second run (refused while the first holds the source).
    await expect(triggerJob(deps, tenant, job.id, {})).rejects.toMatchObject({ status: 409 });
    await expect(
      triggerJob(deps, tenant, job.id, {}, { idempotencyKey: 'has spaces' }),
    ).rejects.toMatchObject({ status: 400 });
    const [rows] = await env.db.query('SELECT COUNT(*) AS n FROM collect_task WHERE tenant_id = ?', [tenant]);
    expect(Number((rows as { n: number }[])[0]?.n)).toBe(1);
  });

  it('starts a dependant once when the step was left PENDING by a consumer that died', async () => {
    const collect: TaskStarter = { start: (t, run) => startRun(env.services, t, run, { internal: true }) };
    const deps = registerWith(collect);
    const a = await createJob(deps, tenant, testrailJob(settings, `up-${seq}`));
    const b = await createJob(deps, tenant, { ...testrailJob(settings, `down-${seq}`), dependsOn: [a.id] });
    const upstream = crypto.randomUUID();
    const finished = {
      taskId: upstream,
      tenantId: tenant,
      state: 'COMPLETED' as const,
      jobId: a.id,
      jobVersion: 1,
      chainId: crypto.randomUUID(),
    };
    // The first consumer took the step and started B's run, then died before recording it.
    expect(
      await deps.chain.begin({
        upstreamTaskId: upstream,
        jobId: b.id,
        tenantId: tenant,
        chainId: finished.chainId,
      }),
    ).toBe(true);
    const started = await triggerJob(
      deps,
      tenant,
      b.id,
      {},
      {
        trigger: { kind: 'upstream', taskId: upstream },
        chainId: finished.chainId,
      },
    );
    // The announcement comes again: the PENDING step is taken again and gets the same task.
    expect(await onTaskFinished(deps, finished)).toEqual({ triggered: [started.taskId], held: [] });
    expect(await onTaskFinished(deps, finished)).toEqual({ triggered: [], held: [] });
    const events = await deps.chain.ofJob(tenant, b.id);
    expect(events).toEqual([expect.objectContaining({ outcome: 'TRIGGERED', taskId: started.taskId })]);
  });
});
