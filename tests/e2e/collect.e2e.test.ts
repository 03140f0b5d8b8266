import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeTestRail } from '../support/fake-testrail';
import { Stack } from '../support/stack';
import { type LiveNode, liveTree } from '../support/stores';
import { waitFor } from '../support/wait';

// No watermark overlap: the unattended loop's INCREMENTAL run must read only what changed.
const stack = new Stack(3520, { SHARD_TIME_BUDGET_MS: '2000', WATERMARK_OVERLAP_SECONDS: '0' });
const tr = new FakeTestRail();

beforeAll(async () => {
  await tr.start();
  await stack.start();
});
afterAll(async () => {
  await stack.stop();
  await tr.stop();
});

function seed(sections: number, perSection: number): void {
  for (let i = 0; i < sections; i += 1) {
    const s = tr.addSection(`Section ${i}`);
    for (let k = 0; k < perSection; k += 1) tr.addCase(s, `Case ${i}.${k}`);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
const state = async (taskId: string): Promise<any> =>
  (await stack.request('GET', `/api/tasks/${taskId}`)).body;

describe('collecting from TestRail over the HTTP API, through serverless-offline and the bridge', () => {
  it('runs a FULL collection to COMPLETED and serves the collected tree', async () => {
    seed(3, 4);
    const res = await stack.request('POST', '/api/tasks', tr.run('tr', { shards: 2, pageSize: 3 }));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const task = await stack.settledTask(res.body.taskId);
    expect(task).toMatchObject({ state: 'COMPLETED', collector: 'testrail', mode: 'FULL' });
    expect(task.progress.records).toBe(12);
    expect(task.settings.apiKey).toBe('***');
    const tree = await stack.request('GET', '/api/testcase/tree?source=tr&depth=3');
    expect(tree.body.tree.map((n: { id: string }) => n.id).sort()).toEqual(
      [...tr.sections.keys()].map((id) => `S${id}`).sort(),
    );
    const status = await stack.request('GET', `/api/task/${res.body.taskId}/status`);
    expect(status.body).toMatchObject({ taskId: res.body.taskId, state: 'COMPLETED' });
    expect(Object.keys(status.body.shardStatus)).toEqual(['s0', 's1']);
    const logs = await stack.request('GET', `/api/tasks/${res.body.taskId}/logs?limit=5`);
    expect(logs.body.items.length).toBe(5);
    const more = await stack.request(
      'GET',
      `/api/tasks/${res.body.taskId}/logs?after=${logs.body.nextCursor}`,
    );
    expect(more.body.items[0].id > logs.body.items[4].id).toBe(true);
    const list = await stack.request('GET', '/api/tasks?source=tr&limit=1');
    expect(list.body.items[0].id).toBe(res.body.taskId);
  });

  it('pauses, then resumes, a running collection over HTTP and ends exact', async () => {
    seed(2, 30);
    tr.latencyMs = 40;
    const res = await stack.request('POST', '/api/tasks', tr.run('tr-pause', { shards: 2, pageSize: 2 }));
    const taskId = res.body.taskId;
    await waitFor(
      'pages to be written',
      async () => ((await state(taskId)).progress?.pages > 2 ? true : undefined),
      60_000,
    );
    const paused = await stack.request('POST', `/api/tasks/${taskId}/pause`);
    expect([200, 202]).toContain(paused.status);
    await waitFor(
      'the task to pause',
      async () => ((await state(taskId)).state === 'PAUSED' ? true : undefined),
      60_000,
    );
    const requests = tr.requests.length;
    const again = await stack.request('POST', `/api/tasks/${taskId}/pause`);
    expect(again).toMatchObject({
      status: 409,
      body: { error: { code: 'ILLEGAL_TRANSITION', details: { state: 'PAUSED' } } },
    });
    expect(tr.requests.length).toBe(requests);
    tr.latencyMs = 0;
    expect((await stack.request('POST', `/api/task/${taskId}/resume`)).status).toBe(200);
    const done = await stack.settledTask(taskId);
    expect(done.state).toBe('COMPLETED');
    expect(done.progress.records).toBe(60 + 12);
  });

  it('ends exact when the worker process is killed while a page is in flight', async () => {
    seed(3, 12);
    tr.latencyMs = 30;
    let casePages = 0;
    let killed: Promise<void> | undefined;
    tr.onRequest = (api) => {
      // The sixth case page is being fetched: the function process dies with it in flight.
      if (api.includes('get_cases') && ++casePages === 6) killed = stack.kill('workers');
    };
    const res = await stack.request('POST', '/api/tasks', tr.run('tr-kill', { shards: 2, pageSize: 3 }));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await waitFor('the worker to be killed', async () => (killed ? true : undefined), 60_000);
    await killed;
    tr.onRequest = () => undefined;
    tr.latencyMs = 0;
    await stack.startPart('workers');
    const done = await stack.settledTask(res.body.taskId, 180_000);
    expect(done.state, JSON.stringify(done)).toBe('COMPLETED');
    const db = await mysql.createConnection({ uri: stack.env.MYSQL_URL });
    try {
      const want: LiveNode[] = [
        ...[...tr.sections.values()].map(
          (x): LiveNode => [
            `S${x.id}`,
            x.parent_id ? `S${x.parent_id}` : null,
            'DIRECTORY',
            x.name,
            x.display_order ?? 0,
          ],
        ),
        ...[...tr.cases.values()].map(
          (c): LiveNode => [`C${c.id}`, `S${c.section_id}`, 'CASE', c.title, c.display_order ?? c.id],
        ),
      ].sort();
      expect(await liveTree(db, 'tr-kill')).toEqual(want);
    } finally {
      await db.end();
    }
    // Each record counted once: the page in flight was not committed, so it was fetched again whole.
    expect(done.progress.records).toBe(tr.cases.size);
  });

  it('answers 400 with every problem, 404 for unknown tasks, shards and actions', async () => {
    const bad = await stack.request('POST', '/api/tasks', { collector: 'nope', source: '', mode: 'X' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.length).toBeGreaterThanOrEqual(3);
    expect((await stack.request('GET', '/api/tasks/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await stack.request('POST', '/api/tasks/not-a-task/pause')).status).toBe(404);
    const list = await stack.request('GET', '/api/tasks?source=tr&limit=1');
    const id = list.body.items[0].id;
    expect((await stack.request('POST', `/api/tasks/${id}/jump`)).status).toBe(404);
    expect((await stack.request('POST', `/api/tasks/${id}/shards/s99/pause`)).status).toBe(404);
  });
});

describe('the register over HTTP', () => {
  it('lists the collectors platform-collect announced, and keeps jobs (secrets never shown)', async () => {
    const collectors = await waitFor(
      'the catalog to be recorded',
      async () => {
        const r = await stack.request('GET', '/api/collectors');
        const types = (r.body.items ?? []).map((i: { type: string }) => i.type);
        return types.includes('testrail') && types.includes('http-tree') ? r.body : undefined;
      },
      60_000,
    );
    expect(
      collectors.items.find((i: { type: string }) => i.type === 'testrail').versions[0].settingsSchema
        .required,
    ).toEqual(['baseUrl', 'user', 'apiKey', 'projectId']);
    const created = await stack.request('POST', '/api/jobs', {
      name: 'Nightly',
      collector: 'testrail',
      source: 'nightly',
      settings: tr.settings(),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ version: 1, settings: { apiKey: '***' } });
    const changed = await stack.request('PUT', `/api/jobs/${created.body.id}`, {
      name: 'Nightly (renamed)',
      collector: 'testrail',
      source: 'nightly',
      settings: tr.settings(),
      defaultMode: 'INCREMENTAL',
    });
    expect(changed.body).toMatchObject({ version: 2, name: 'Nightly (renamed)', defaultMode: 'INCREMENTAL' });
    const list = await stack.request('GET', '/api/jobs?limit=5');
    expect(JSON.stringify(list.body)).not.toContain(tr.apiKey);
    // A trigger goes through collect's POST /api/tasks, over HTTP, and the run completes.
    const triggered = await stack.request('POST', `/api/jobs/${created.body.id}/trigger`, { mode: 'FULL' });
    expect(triggered.status, JSON.stringify(triggered.body)).toBe(202);
    const run = await stack.settledTask(triggered.body.taskId);
    expect(run).toMatchObject({
      state: 'COMPLETED',
      collectorVersion: '1',
      origin: { jobId: created.body.id, jobVersion: 2, trigger: { kind: 'manual' } },
    });
    const runs = await stack.request('GET', `/api/tasks?jobId=${created.body.id}`);
    expect(runs.body.items.map((t: { id: string }) => t.id)).toEqual([triggered.body.taskId]);
    const bad = await stack.request('POST', '/api/jobs', {
      collector: 'testrail',
      settings: { projectId: 'x' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.length).toBeGreaterThanOrEqual(4);
    expect((await stack.request('DELETE', `/api/jobs/${created.body.id}`)).status).toBe(200);
    expect((await stack.request('GET', '/api/jobs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });
});

describe('the scheduler over HTTP', () => {
  it('fires a schedule at its instant (a tick invoked with that now), runs the job, and records the fire', async () => {
    const job = await stack.request('POST', '/api/jobs', {
      name: 'Scheduled',
      collector: 'testrail',
      source: 'scheduled',
      settings: tr.settings(),
      defaultMode: 'FULL',
    });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    const created = await stack.request('POST', '/api/schedules', {
      jobId: job.body.id,
      cron: '30 3 * * *',
      timezone: 'Europe/Berlin',
      mode: 'FULL',
      misfire: 'SKIP',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.nextFireTimes).toHaveLength(5);
    const due = created.body.nextFireTimes[0] as string;
    // The tick, as its schedule event invokes it, with the schedule's own instant as "now".
    const res = await fetch(
      `http://127.0.0.1:${stack.port + 2}/2015-03-31/functions/collect-dev-schedulerTick/invocations`,
      { method: 'POST', body: JSON.stringify({ now: new Date(Date.parse(due) + 5000).toISOString() }) },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ claimed: 1, fired: 1 });
    const view = await stack.request('GET', `/api/schedules/${created.body.id}`);
    const [fire] = view.body.fires;
    expect(fire).toMatchObject({ state: 'FIRED', fireTime: due });
    const run = await stack.settledTask(fire.taskId);
    expect(run).toMatchObject({
      state: 'COMPLETED',
      origin: {
        jobId: job.body.id,
        trigger: { kind: 'schedule', scheduleId: created.body.id, fireTime: due },
      },
    });
    const bad = await stack.request('POST', '/api/schedules', {
      jobId: job.body.id,
      cron: 'nope',
      timezone: 'Nowhere/Land',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((p: { path: string }) => p.path).sort()).toEqual(['cron', 'timezone']);
    expect((await stack.request('POST', `/api/schedules/${created.body.id}/pause`)).body.paused).toBe(true);
    expect((await stack.request('DELETE', `/api/schedules/${created.body.id}`)).status).toBe(200);
  });
});

describe('running unattended', () => {
  /** The tick, as its schedule event invokes it, at `now`. */
  const tickAt = async (now: string) => {
    const res = await fetch(
      `http://127.0.0.1:${stack.port + 2}/2015-03-31/functions/collect-dev-schedulerTick/invocations`,
      { method: 'POST', body: JSON.stringify({ now }) },
    );
    expect(res.status).toBe(200);
    return res.json();
  };
  const fireOf = async (scheduleId: string, fireTime: string) =>
    waitFor(`the fire at ${fireTime}`, async () => {
      const view = await stack.request('GET', `/api/schedules/${scheduleId}`);
      return view.body.fires.find(
        (f: { fireTime: string; state: string }) => f.fireTime === fireTime && f.state !== 'FIRING',
      );
    });
  const runOf = async (jobId: string, chainId: string) =>
    waitFor(
      `a run of job ${jobId} in chain ${chainId}`,
      async () => {
        const r = await stack.request('GET', `/api/tasks?chainId=${chainId}`);
        return r.body.items.find((t: { origin: { jobId: string } }) => t.origin?.jobId === jobId);
      },
      60_000,
    );

  it('schedule → INCREMENTAL run → dependant in the same chain; the next fire collects only what changed; a gray release runs version 2', async () => {
    const src = new FakeTestRail();
    await src.start();
    try {
      const section = src.addSection('Payments');
      const cases = [0, 1, 2, 3, 4].map((i) =>
        src.addCase(section, `Pay ${i}`, { refs: `REQ-${i}, UX-${i}` }),
      );
      const seededAt = Math.floor(Date.now() / 1000);
      const upstream = await stack.request('POST', '/api/jobs', {
        name: 'Upstream',
        collector: 'testrail',
        source: 'loop-up',
        settings: src.settings(),
        defaultMode: 'INCREMENTAL',
      });
      expect(upstream.status, JSON.stringify(upstream.body)).toBe(201);
      const downstream = await stack.request('POST', '/api/jobs', {
        name: 'Downstream',
        collector: 'testrail',
        source: 'loop-down',
        settings: src.settings(),
        defaultMode: 'FULL',
        dependsOn: [upstream.body.id],
      });
      expect(downstream.status, JSON.stringify(downstream.body)).toBe(201);
      // The dependant's runs go to version 2 for this tenant (gray release by tenant).
      const release = await stack.request('PUT', `/api/jobs/${downstream.body.id}/release`, {
        version: '2',
        tenants: ['default'],
      });
      expect(release.status, JSON.stringify(release.body)).toBe(200);
      const schedule = await stack.request('POST', '/api/schedules', {
        jobId: upstream.body.id,
        cron: '*/15 * * * *',
        timezone: 'UTC',
        mode: 'INCREMENTAL',
        misfire: 'SKIP',
      });
      expect(schedule.status, JSON.stringify(schedule.body)).toBe(201);
      const [first, second] = schedule.body.nextFireTimes as string[];
      // The first run reads from a later second than the cases' stamps (TestRail stamps seconds).
      await waitFor('the next second', async () => Math.floor(Date.now() / 1000) > seededAt || undefined);

      expect(await tickAt(new Date(Date.parse(first as string) + 1000).toISOString())).toMatchObject({
        fired: 1,
      });
      const fire1 = await fireOf(schedule.body.id, first as string);
      const run1 = await stack.settledTask(fire1.taskId);
      expect(run1).toMatchObject({ state: 'COMPLETED', mode: 'INCREMENTAL', progress: { records: 5 } });
      const dep1 = await stack.settledTask((await runOf(downstream.body.id, run1.origin.chainId)).id);
      expect(dep1).toMatchObject({
        state: 'COMPLETED',
        collectorVersion: '2',
        origin: { chainId: run1.origin.chainId, trigger: { kind: 'upstream', taskId: run1.id } },
      });
      const doc = await stack.request('GET', `/api/testcase/C${cases[0]}?source=loop-down`);
      expect(doc.body.metadata).toMatchObject({ refs: ['REQ-0', 'UX-0'] });

      src.editCase(cases[2] as number, { title: 'Pay 2 (edited)' });
      expect(await tickAt(new Date(Date.parse(second as string) + 1000).toISOString())).toMatchObject({
        fired: 1,
      });
      const fire2 = await fireOf(schedule.body.id, second as string);
      const run2 = await stack.settledTask(fire2.taskId);
      // It read from the first run's watermark, and only the edited case came back.
      expect(Date.parse(run2.since)).toBeGreaterThan(seededAt * 1000);
      expect(run2).toMatchObject({ state: 'COMPLETED', mode: 'INCREMENTAL', progress: { records: 1 } });
      const tree = await stack.request('GET', '/api/testcase/tree?source=loop-up');
      expect(JSON.stringify(tree.body)).toContain('Pay 2 (edited)');
      const dep2 = await stack.settledTask((await runOf(downstream.body.id, run2.origin.chainId)).id);
      expect(dep2).toMatchObject({ state: 'COMPLETED', collectorVersion: '2' });
      const chain = await stack.request('GET', `/api/tasks?chainId=${run2.origin.chainId}`);
      expect(chain.body.items.map((t: { id: string }) => t.id).sort()).toEqual([run2.id, dep2.id].sort());

      // Bad input on the new endpoints: every problem in one 400, 404 for what does not exist.
      const bad = await stack.request('PUT', `/api/jobs/${downstream.body.id}/release`, {
        version: '9',
        percent: -1,
        tenants: 'all',
      });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.map((p: { path: string }) => p.path).sort()).toEqual(
        ['percent', 'tenants', 'version'].sort(),
      );
      const unknownJob = '00000000-0000-4000-8000-000000000000';
      expect(
        (await stack.request('PUT', `/api/jobs/${unknownJob}/release`, { version: '2', percent: 1 })).status,
      ).toBe(404);
      expect((await stack.request('DELETE', `/api/jobs/${unknownJob}/release`)).status).toBe(404);
      expect((await stack.request('POST', '/api/collectors/testrail/versions/9/promote')).status).toBe(404);
      expect(
        (await stack.request('PUT', `/api/jobs/${downstream.body.id}/release`, '{not json')).status,
      ).toBe(400);
      expect((await stack.request('DELETE', `/api/jobs/${downstream.body.id}/release`)).body).toEqual({
        jobId: downstream.body.id,
        release: null,
      });
      await stack.request('DELETE', `/api/schedules/${schedule.body.id}`);
    } finally {
      await src.stop();
    }
  });
});

describe('what only the platform may say, over HTTP', () => {
  it("refuses a forged fire or origin and text that is not Unicode; a deleted job's schedules go with it", async () => {
    const job = await stack.request('POST', '/api/jobs', {
      name: 'Guarded',
      collector: 'testrail',
      source: 'guarded',
      settings: tr.settings(),
    });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    const forged = await stack.request('POST', `/api/jobs/${job.body.id}/trigger`, {
      trigger: {
        kind: 'schedule',
        scheduleId: '00000000-0000-4000-8000-000000000001',
        fireTime: '2026-11-30T14:00:00Z',
      },
    });
    expect(forged.status).toBe(400);
    expect(forged.body.error.details).toEqual([expect.objectContaining({ path: 'trigger' })]);
    const origin = await stack.request('POST', '/api/tasks', {
      collector: 'testrail',
      source: 'guarded',
      mode: 'FULL',
      settings: tr.settings(),
      origin: {
        jobId: job.body.id,
        jobVersion: 1,
        chainId: '00000000-0000-4000-8000-000000000002',
        trigger: { kind: 'manual' },
      },
    });
    expect(origin.status).toBe(400);
    const surrogate = await stack.request(
      'POST',
      '/api/jobs',
      '{"name":"bad \\ud800","collector":"testrail","source":"s","settings":{}}',
    );
    expect(surrogate.status).toBe(400);
    expect(surrogate.body.error.details).toEqual([expect.objectContaining({ path: 'name' })]);

    const schedule = await stack.request('POST', '/api/schedules', { jobId: job.body.id, cron: '0 3 * * *' });
    expect(schedule.status, JSON.stringify(schedule.body)).toBe(201);
    expect((await stack.request('DELETE', `/api/jobs/${job.body.id}`)).status).toBe(200);
    // The register announces it; the scheduler's consumer deletes the job's schedules.
    await waitFor(
      'the schedule to go with its job',
      async () =>
        (await stack.request('GET', `/api/schedules/${schedule.body.id}`)).status === 404 || undefined,
    );
  });
});

describe('flow limits over HTTP, through the bridge', () => {
  it("holds a function at concurrency 0 and lets it go on when the limit is deleted; a host's breaker and limits show", async () => {
    const key = 'function:runShardTestrail1';
    const set = await stack.request('PUT', `/api/flow/${key}`, { concurrency: 0 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    await waitFor(
      'the bridge to hold the function',
      async () =>
        /runShardTestrail1: concurrency 0 \(flow limit\)/.test(stack.partLog('bridge')) || undefined,
    );
    seed(2, 3);
    const started = await stack.request('POST', '/api/tasks', tr.run('flow-held', { shards: 2 }));
    expect(started.status).toBe(202);
    const planned = await waitFor('the run to be planned', async () => {
      const t = await state(started.body.taskId);
      return t.planned ? t : undefined;
    });
    // Held: the shards wait in their queue, nothing was fetched.
    expect(planned.progress.pages).toBe(0);
    expect((await stack.request('DELETE', `/api/flow/${key}`)).status).toBe(200);
    expect(await stack.settledTask(started.body.taskId)).toMatchObject({ state: 'COMPLETED' });
    const host = new URL(tr.baseUrl).host;
    const view = await stack.request('GET', `/api/flow/host:${host}`);
    expect(view.body).toMatchObject({ key: `host:${host}`, limit: null, breaker: { state: 'CLOSED' } });
    const bad = await stack.request('PUT', '/api/flow/disk:c', { concurrency: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((p: { path: string }) => p.path).sort()).toEqual([
      'concurrency',
      'key',
    ]);
  });
});
