import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeTestRail } from '../support/fake-testrail';
import { Stack } from '../support/stack';
import { type LiveNode, liveTree } from '../support/stores';
import { waitFor } from '../support/wait';

const stack = new Stack(3520, { SHARD_TIME_BUDGET_MS: '2000' });
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
    const res = await stack.request('POST', '/api/tasks', {
      collector: 'testrail',
      source: 'tr',
      mode: 'FULL',
      settings: tr.settings(),
      strategy: { shards: 2, pageSize: 3 },
    });
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
    const res = await stack.request('POST', '/api/tasks', {
      collector: 'testrail',
      source: 'tr-pause',
      mode: 'FULL',
      settings: tr.settings(),
      strategy: { shards: 2, pageSize: 2 },
    });
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
    const res = await stack.request('POST', '/api/tasks', {
      collector: 'testrail',
      source: 'tr-kill',
      mode: 'FULL',
      settings: tr.settings(),
      strategy: { shards: 2, pageSize: 3 },
    });
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
