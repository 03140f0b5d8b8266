import { HttpError } from '@collect/common';
import { isTaskFinished } from '@collect/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { controlRun, startRun, taskLogs } from '../../functions/collect/src/app/runs';
import { engineDriver } from '../support/engine-driver';
import { FakeTestRail } from '../support/fake-testrail';
import { type LiveNode, liveTree } from '../support/stores';
import { createTestEnv, type TestEnv } from '../support/test-env';

type Driver = ReturnType<typeof engineDriver>;

let env: TestEnv;
let tr: FakeTestRail;
const tenant = 'default';

beforeAll(async () => {
  env = await createTestEnv();
  ({ step, runUntil, view: task, runToEnd } = engineDriver(env, tenant));
});
afterAll(async () => {
  await env?.close();
});
beforeEach(async () => {
  await tr?.stop();
  tr = new FakeTestRail();
  await tr.start();
});

let step: Driver['step'];
let runUntil: Driver['runUntil'];
let task: Driver['view'];
let runToEnd: Driver['runToEnd'];

/** What the source holds, in the form of `liveTree`. */
function expected(): LiveNode[] {
  const out: LiveNode[] = [];
  for (const s of tr.sections.values())
    out.push([`S${s.id}`, s.parent_id ? `S${s.parent_id}` : null, 'DIRECTORY', s.name, s.display_order ?? 0]);
  for (const c of tr.cases.values())
    out.push([`C${c.id}`, `S${c.section_id}`, 'CASE', c.title, c.display_order ?? c.id]);
  return out.sort();
}

function seed(sections = 3, perSection = 5): number[] {
  const ids: number[] = [];
  for (let i = 0; i < sections; i += 1) {
    const top = tr.addSection(`Section ${i} 🧪`);
    const sub = tr.addSection(`Sub ${i}`, top);
    ids.push(top, sub);
    for (let k = 0; k < perSection; k += 1) {
      tr.addCase(top, `Case ${i}.${k}`);
      tr.addCase(sub, `Deep ${i}.${k}`);
    }
  }
  return ids;
}

const run = (source: string, extra: Record<string, unknown> = {}) => ({
  collector: 'testrail',
  source,
  mode: 'FULL',
  settings: tr.settings(),
  strategy: { shards: 3, pageSize: 2 },
  ...extra,
});

describe('a TestRail run through the engine, on the real stores', () => {
  it('FULL: stores exactly the source, with the case details, and never shows or logs the API key', async () => {
    seed();
    const view = await runToEnd(run('tr-full'));
    expect(view.state).toBe('COMPLETED');
    expect(await liveTree(env.db, 'tr-full')).toEqual(expected());
    const one = [...tr.cases.values()][0];
    const doc = await env.mongo
      .collection('case_detail')
      .findOne({ source: 'tr-full', caseId: `C${one?.id}` });
    expect(doc).toMatchObject({
      content: {
        preconditions: one?.custom_preconds,
        steps: [{ action: `do ${one?.title}`, expected: `see ${one?.title}` }],
      },
      metadata: { priority: 2, type: 1, refs: `REF-${one?.id}`, estimate: '1m' },
    });
    expect(JSON.stringify(view)).not.toContain(tr.apiKey);
    expect((view.settings as { apiKey: string }).apiKey).toBe('***');
    const logs = await taskLogs(env.services, tenant, view.id as string, { limit: 1000 });
    expect(logs.items.length).toBeGreaterThan(5);
    expect(JSON.stringify(logs)).not.toContain(tr.apiKey);
  });

  it('FULL again: deletes what the source no longer has, updates what changed', async () => {
    seed();
    await runToEnd(run('tr-again'));
    const [gone] = [...tr.cases.keys()];
    tr.cases.delete(gone as number);
    const someSection = [...tr.sections.values()][2];
    if (someSection) someSection.name = 'Renamed';
    const view = await runToEnd(run('tr-again'));
    expect(view.state).toBe('COMPLETED');
    expect(await liveTree(env.db, 'tr-again')).toEqual(expected());
  });

  it('INCREMENTAL picks up edits, moves, new sections and cases made before and during the previous run', async () => {
    const sections = seed(2, 4);
    let mutated = false;
    const movedCase = [...tr.cases.values()].at(-1)?.id as number;
    tr.onRequest = (api) => {
      // During the FULL run, once case pages are being read: edit, add, move.
      if (!mutated && api.includes('get_cases')) {
        mutated = true;
        const first = [...tr.cases.values()][0] as { id: number };
        tr.editCase(first.id, { title: 'Edited during the run' });
        tr.addCase(sections[0] as number, 'Added during the run');
        tr.editCase(movedCase, { section_id: sections[1] as number });
      }
    };
    expect((await runToEnd(run('tr-inc'))).state).toBe('COMPLETED');
    tr.onRequest = () => undefined;
    const from = tr.requests.length;
    // Before the next run: a new section with a case, a renamed case, a section moved under another.
    const fresh = tr.addSection('New section', sections[0] as number);
    tr.addCase(fresh, 'New case');
    tr.editCase([...tr.cases.values()][1]?.id as number, { title: 'Renamed before' });
    const moved = tr.sections.get(sections[3] as number);
    if (moved) moved.parent_id = sections[0] as number;
    const inc = await runToEnd(run('tr-inc', { mode: 'INCREMENTAL' }));
    expect(inc.state).toBe('COMPLETED');
    expect(inc.since).not.toBeNull();
    expect(await liveTree(env.db, 'tr-inc')).toEqual(expected());
    // Only changed cases were asked for: every case request carried updated_after.
    const caseRequests = tr.requests.slice(from).filter((r) => r.api.includes('get_cases'));
    expect(caseRequests.length).toBeGreaterThan(0);
    expect(caseRequests.every((r) => r.api.includes('updated_after='))).toBe(true);
  });

  it('RANGE by rootId deletes only inside the subtree; RANGE by update time only upserts', async () => {
    const sections = seed(2, 3);
    await runToEnd(run('tr-range'));
    const inside = [...tr.cases.values()].find((c) => c.section_id === sections[0]) as { id: number };
    const outside = [...tr.cases.values()].find((c) => c.section_id === sections[2]) as { id: number };
    tr.cases.delete(inside.id);
    tr.cases.delete(outside.id);
    const view = await runToEnd(run('tr-range', { mode: 'RANGE', range: { rootId: `S${sections[0]}` } }));
    expect(view.state).toBe('COMPLETED');
    const live = (await liveTree(env.db, 'tr-range')).map((n) => n[0]);
    expect(live).not.toContain(`C${inside.id}`);
    expect(live).toContain(`C${outside.id}`);
    const since = new Date(Date.now() - 60_000).toISOString();
    const byTime = await runToEnd(run('tr-range', { mode: 'RANGE', range: { updatedAfter: since } }));
    expect(byTime.state).toBe('COMPLETED');
    expect((await liveTree(env.db, 'tr-range')).map((n) => n[0])).toContain(`C${outside.id}`);
  });
});

describe('control of a running TestRail task', () => {
  it('pauses at a page boundary: no source request and no store write once PAUSED; resume ends exact', async () => {
    seed(2, 6);
    const { taskId } = await startRun(
      env.services,
      tenant,
      run('tr-pause', { strategy: { shards: 2, pageSize: 2 } }),
    );
    let paused = false;
    tr.onRequest = (api) => {
      if (!paused && api.includes('get_cases')) {
        paused = true;
        void controlRun(env.services, tenant, taskId, 'pause');
      }
    };
    await runUntil('the task to pause', async () => (await task(taskId)).state === 'PAUSED');
    const requests = tr.requests.length;
    const rows = JSON.stringify(await liveTree(env.db, 'tr-pause'));
    while (await step()) {}
    expect(tr.requests.length).toBe(requests);
    expect(JSON.stringify(await liveTree(env.db, 'tr-pause'))).toBe(rows);
    const resumed = await controlRun(env.services, tenant, taskId, 'resume');
    expect(resumed.state).toBe('RUNNING');
    await runUntil('the task to complete', async () => (await task(taskId)).state === 'COMPLETED');
    expect(await liveTree(env.db, 'tr-pause')).toEqual(expected());
    const caseRequests = tr.requests.filter((r) => r.api.includes('get_cases')).map((r) => r.api);
    expect(new Set(caseRequests).size).toBe(caseRequests.length);
  });

  it('stops: final, and the task cannot be resumed or retried', async () => {
    seed(1, 2);
    const { taskId } = await startRun(env.services, tenant, run('tr-stop'));
    const stopped = await controlRun(env.services, tenant, taskId, 'stop');
    expect(stopped.state).toBe('STOPPED');
    while (await step()) {}
    expect(tr.requests).toEqual([]);
    await expect(controlRun(env.services, tenant, taskId, 'resume')).rejects.toMatchObject({
      status: 409,
      code: 'ILLEGAL_TRANSITION',
      details: { state: 'STOPPED' },
    });
  });
});

describe('failures of the source', () => {
  it('retries a 503 with backoff until it passes, waits out a 429 without spending attempts', async () => {
    seed(1, 2);
    let failures = 0;
    let limited = 0;
    tr.fault = (api) => {
      if (!api.includes('get_cases')) return undefined;
      if (failures < 2) {
        failures += 1;
        return { status: 503 };
      }
      if (limited < 1) {
        limited += 1;
        return { status: 429, headers: { 'retry-after': '1' } };
      }
      return undefined;
    };
    const view = await runToEnd(
      run('tr-retry', { strategy: { shards: 1, retry: { baseDelayMs: 200, maxDelayMs: 400 } } }),
    );
    expect(view.state).toBe('COMPLETED');
    expect(view.shards[0]?.attempts).toBe(2);
    expect(await liveTree(env.db, 'tr-retry')).toEqual(expected());
  });

  it('fails a shard that always fails, with its error, while the others complete', async () => {
    const sections = seed(3, 2);
    tr.fault = (api, params) =>
      api.includes('get_cases') && params.get('section_id') === String(sections[4])
        ? { status: 500 }
        : undefined;
    const view = await runToEnd(
      run('tr-partial', {
        strategy: { shards: 3, retry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 } },
      }),
    );
    expect(view.state).toBe('PARTIALLY_COMPLETED');
    const failed = view.shards.filter((s) => s.state === 'FAILED');
    expect(failed.length).toBe(1);
    expect(failed[0]?.lastError).toContain('500');
    tr.fault = () => undefined;
    const retried = await controlRun(env.services, tenant, view.id as string, 'retry');
    expect(retried.state).toBe('RUNNING');
    await runUntil(
      'the retry to complete',
      async () => (await task(view.id as string)).state === 'COMPLETED',
    );
    expect(await liveTree(env.db, 'tr-partial')).toEqual(expected());
  });

  it('retries a run that failed while it was being planned: it is planned again', async () => {
    seed(1, 2);
    tr.fault = (api) => (api.includes('get_sections') ? { status: 400 } : undefined);
    const failed = await runToEnd(run('tr-plan-fail'));
    expect(failed.state).toBe('FAILED');
    expect(failed.shards).toEqual([]);
    tr.fault = () => undefined;
    expect((await controlRun(env.services, tenant, failed.id as string, 'retry')).state).toBe('RUNNING');
    await runUntil(
      'the run to complete',
      async () => (await task(failed.id as string)).state === 'COMPLETED',
    );
    expect(await liveTree(env.db, 'tr-plan-fail')).toEqual(expected());
  });

  it('fails the whole task at once when the credentials are rejected', async () => {
    seed(2, 2);
    const view = await runToEnd(run('tr-401', { settings: tr.settings({ apiKey: 'wrong' }) }));
    expect(view.state).toBe('FAILED');
    expect(view.lastError).toMatch(/credentials rejected/);
    expect(tr.requests.length).toBe(1);
  });
});

describe('starting a run', () => {
  it('lists every problem in one 400 and writes nothing', async () => {
    const bad = await startRun(env.services, tenant, {
      collector: 'testrail',
      source: 'bad source!',
      mode: 'RANGE',
      settings: { baseUrl: 'ftp://x', projectId: 'one' },
      strategy: { shards: 0, retry: { baseDelayMs: 10, maxDelayMs: 5 } },
    }).catch((e) => e);
    expect(bad).toBeInstanceOf(HttpError);
    const paths = (bad as HttpError).details as { path: string }[];
    expect(paths.map((p) => p.path)).toEqual(
      expect.arrayContaining([
        'source',
        'settings.baseUrl',
        'settings.user',
        'settings.apiKey',
        'settings.projectId',
        'range',
        'strategy.shards',
        'strategy.retry.maxDelayMs',
      ]),
    );
    const unknown = await startRun(env.services, tenant, {
      collector: 'jira',
      source: 's',
      mode: 'FULL',
      settings: {},
    }).catch((e) => e);
    expect((unknown as HttpError).details).toEqual([expect.objectContaining({ path: 'collector' })]);
  });

  it('runs one task per source at a time: 409 names the running one', async () => {
    seed(1, 1);
    const { taskId } = await startRun(env.services, tenant, run('tr-busy'));
    const second = await startRun(env.services, tenant, run('tr-busy')).catch((e) => e);
    expect(second).toMatchObject({ status: 409, details: { taskId } });
    await runUntil('the first run to finish', async () =>
      isTaskFinished((await task(taskId)).state as never),
    );
  });
});
