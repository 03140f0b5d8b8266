import { decodeBody, topology } from '@collect/common';
import { planTask, runShard } from '@collect/core';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { engineMessageSchema } from '../../functions/collect/src/adapters/shard-queue.rabbitmq';
import { recordDeadShards } from '../../functions/collect/src/app/dead-shards';
import { readCase } from '../../functions/collect/src/app/read-case';
import { readTree } from '../../functions/collect/src/app/read-tree';
import { controlRun, controlRunShard, startRun, taskLogs } from '../../functions/collect/src/app/runs';
import { deadEvent } from '../support/dead-event';
import { engineDriver } from '../support/engine-driver';
import { FakeTreeSource } from '../support/fake-tree-source';
import { type LiveNode, liveTree } from '../support/stores';
import { createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait';

let env: TestEnv;
let src: FakeTreeSource;
let d: ReturnType<typeof engineDriver>;
const tenant = 'default';

beforeAll(async () => {
  env = await createTestEnv();
  d = engineDriver(env, tenant);
});
afterAll(async () => {
  await src?.stop();
  await env?.close();
});
beforeEach(async () => {
  await src?.stop();
  src = new FakeTreeSource();
  await src.start();
});

/** What the source holds, in the form of `liveTree`. */
function expected(): LiveNode[] {
  const out: LiveNode[] = [];
  for (const x of src.directories.values()) out.push([x.id, x.parentId, 'DIRECTORY', x.name, x.position]);
  for (const c of src.cases.values()) out.push([c.id, c.directoryId, 'CASE', c.name, c.position]);
  return out.sort();
}

/** `dirs` top-level directories, each with a subdirectory; `perDir` cases in each of the two. */
function seed(dirs = 3, perDir = 4): string[] {
  const ids: string[] = [];
  for (let i = 0; i < dirs; i += 1) {
    const top = src.addDirectory(`d${i}`, `Directory ${i} 🌲`);
    const sub = src.addDirectory(`d${i}.sub`, `Sub ${i}`, top);
    ids.push(top, sub);
    for (let k = 0; k < perDir; k += 1) {
      src.addCase(`c${i}.${k}`, top, `Case ${i}.${k}`);
      src.addCase(`c${i}.sub.${k}`, sub, `Deep ${i}.${k}`);
    }
  }
  return ids;
}

const run = (source: string, extra: Record<string, unknown> = {}) => ({
  collector: 'http-tree',
  source,
  mode: 'FULL',
  settings: src.settings(),
  strategy: { shards: 3, pageSize: 2 },
  ...extra,
});

describe('an http-tree run through the engine, on the real stores', () => {
  it('FULL: stores exactly the source with every case detail, and never shows the token', async () => {
    seed();
    const view = await d.runToEnd(run('ht-full'));
    expect(view.state).toBe('COMPLETED');
    expect(await liveTree(env.db, 'ht-full')).toEqual(expected());
    const doc = await env.mongo.collection('case_detail').findOne({ source: 'ht-full', caseId: 'c1.2' });
    expect(doc).toMatchObject({
      content: {
        preconditions: 'pre Case 1.2',
        steps: [{ action: 'do Case 1.2', expected: 'see Case 1.2' }],
      },
      metadata: { priority: 1, tags: ['smoke'], owner: 'qa' },
    });
    expect(JSON.stringify(view)).not.toContain(src.token);
    const logs = await taskLogs(env.services, tenant, view.id, { limit: 1000 });
    expect(JSON.stringify(logs)).not.toContain(src.token);
  });

  it('keeps the original design case document: a list of expected results and a numeric priority', async () => {
    src.addDirectory('root', 'Root');
    src.addCase('seed-case', 'root', 'Login works', {
      content: {
        description: 'd',
        preconditions: 'p',
        steps: [{ action: 'a', expected: 'e' }],
        expectedResults: [],
      },
      metadata: { priority: 1, tags: ['login'], status: 'ACTIVE' },
    });
    expect((await d.runToEnd(run('ht-seed'))).state).toBe('COMPLETED');
    const doc = await env.mongo.collection('case_detail').findOne({ source: 'ht-seed', caseId: 'seed-case' });
    expect(doc?.content).toEqual({
      description: 'd',
      preconditions: 'p',
      steps: [{ action: 'a', expected: 'e' }],
      expectedResults: [],
    });
    expect(doc?.metadata).toEqual({ priority: 1, tags: ['login'], status: 'ACTIVE' });
    // The tree and the case answer the priority with the type it was given.
    expect(await readCase(env.services, tenant, 'ht-seed', 'seed-case')).toMatchObject({
      priority: 1,
      metadata: { priority: 1 },
    });
    const tree = await readTree({ ...env.services, maxNodes: 1000 }, tenant, { source: 'ht-seed', depth: 3 });
    expect(tree.tree[0]?.children?.[0]).toMatchObject({ id: 'seed-case', priority: 1 });
  });

  it('INCREMENTAL picks up edits, moves and new cases made before and during the previous run', async () => {
    const dirs = seed(2, 3);
    let mutated = false;
    src.onRequest = (api) => {
      if (!mutated && api === '/cases') {
        mutated = true;
        src.editCase('c0.0', { name: 'Edited during the run' });
        src.addCase('added-during', dirs[0] as string, 'Added during the run');
        src.editCase('c1.sub.2', { directoryId: dirs[0] as string });
      }
    };
    expect((await d.runToEnd(run('ht-inc'))).state).toBe('COMPLETED');
    src.onRequest = () => undefined;
    const from = src.requests.length;
    src.addDirectory('fresh', 'Fresh', dirs[1] as string);
    src.addCase('fresh-case', 'fresh', 'Fresh case');
    src.editCase('c0.1', { name: 'Renamed before' });
    const moved = src.directories.get(dirs[3] as string);
    if (moved) moved.parentId = dirs[0] as string;
    const inc = await d.runToEnd(run('ht-inc', { mode: 'INCREMENTAL' }));
    expect(inc.state).toBe('COMPLETED');
    expect(await liveTree(env.db, 'ht-inc')).toEqual(expected());
    const caseRequests = src.requests.slice(from).filter((r) => r.api.startsWith('/cases'));
    expect(caseRequests.length).toBeGreaterThan(0);
    expect(caseRequests.every((r) => r.api.includes('updatedSince='))).toBe(true);
  });

  it('RANGE by rootId asks for that subtree and deletes only inside it; RANGE by time only upserts', async () => {
    const dirs = seed(2, 2);
    await d.runToEnd(run('ht-range'));
    src.cases.delete('c0.sub.0');
    src.cases.delete('c1.0');
    const view = await d.runToEnd(run('ht-range', { mode: 'RANGE', range: { rootId: dirs[0] } }));
    expect(view.state).toBe('COMPLETED');
    expect(
      src.requests.some((r) => r.api.startsWith(`/directories?`) && r.api.includes(`root=${dirs[0]}`)),
    ).toBe(true);
    const live = (await liveTree(env.db, 'ht-range')).map((n) => n[0]);
    expect(live).not.toContain('c0.sub.0');
    expect(live).toContain('c1.0');
    src.editCase('c1.1', { name: 'Changed lately' });
    const byTime = await d.runToEnd(
      run('ht-range', {
        mode: 'RANGE',
        range: { updatedAfter: new Date(Date.now() - 60_000).toISOString() },
      }),
    );
    expect(byTime.state).toBe('COMPLETED');
    const after = await liveTree(env.db, 'ht-range');
    expect(after.find((n) => n[0] === 'c1.1')?.[3]).toBe('Changed lately');
    expect(after.map((n) => n[0])).toContain('c1.0');
  });

  it('a RANGE run on a rootId the source does not know fails the task with the reason', async () => {
    seed(1, 1);
    const view = await d.runToEnd(run('ht-noroot', { mode: 'RANGE', range: { rootId: 'nope' } }));
    expect(view.state).toBe('FAILED');
    expect(view.lastError).toMatch(/404|not a directory/);
  });
});

describe('a source that breaks the contract', () => {
  it('counts items that break it as failed records and stores the rest', async () => {
    src.addDirectory('root', 'Root');
    src.addCase('ok', 'root', 'Fine');
    src.addCase('bad', 'root', 'Bad content', { content: { steps: 'not a list' } as never });
    const view = await d.runToEnd(run('ht-items', { strategy: { shards: 1 } }));
    expect(view.state).toBe('COMPLETED');
    expect(view.progress).toMatchObject({ records: 1, failedRecords: 1 });
    expect((await liveTree(env.db, 'ht-items')).map((n) => n[0])).toEqual(['ok', 'root']);
  });

  it('refuses directories without a place and cases an import would refuse, and logs why', async () => {
    src.addDirectory('root', 'Root');
    src.addDirectory('A', 'A', 'B');
    src.addDirectory('B', 'B', 'A');
    src.addDirectory('self', 'Self', 'self');
    src.addDirectory('orphan', 'Orphan', 'ZZ');
    src.addDirectory('child', 'Child of orphan', 'orphan');
    src.addCase('ok', 'root', 'Fine');
    src.addCase('root', 'root', 'Same id as a directory');
    src.addCase('blank', 'root', '   ');
    src.addCase('broken', 'root', 'bad \ud800 name');
    src.fault = (api, params) =>
      api === '/directories' && !params.get('cursor')
        ? {
            status: 200,
            body: JSON.stringify({
              items: [
                ...[...src.directories.values()],
                { id: 'root', parentId: null, name: 'Root again' },
                { id: 'bad/slash', parentId: null, name: 'Slash' },
              ],
              next: null,
            }),
          }
        : undefined;
    const view = await d.runToEnd(run('ht-refuse', { strategy: { shards: 1 } }));
    expect(view.state).toBe('COMPLETED');
    expect((await liveTree(env.db, 'ht-refuse')).map((n) => n[0]).sort()).toEqual(['ok', 'root']);
    expect(view.progress).toMatchObject({ records: 1, failedRecords: 3 });
    const logs = await taskLogs(env.services, tenant, view.id, { limit: 1000 });
    const plan = logs.items.find((e) => e.type === 'task.plan-rejected');
    const refused = ((plan?.data ?? {}) as { examples?: string[] }).examples?.join('\n') ?? '';
    for (const id of ['A', 'B', 'self', 'orphan', 'child', 'bad/slash', 'root: listed twice'])
      expect(refused).toContain(id);
    const page = logs.items.find((e) => e.type === 'shard.page');
    const reasons = ((page?.data ?? {}) as { reasons?: string[] }).reasons?.join('\n') ?? '';
    expect(reasons).toMatch(/blank: name/);
    expect(reasons).toMatch(/broken: name/);
    expect(reasons).toMatch(/root: a live directory has this id/);
    expect(page?.data).toMatchObject({ records: 1, rejected: 3 });
  });

  it('fails the shard, with what was wrong, on an answer that is not the contract, a cursor that repeats, or cursors in a circle', async () => {
    seed(2, 1);
    // d0: not the contract; d1: the same cursor again; d0.sub: cursors X → Y → X → … for ever.
    const loop: Record<string, string> = { '': 'X', X: 'Y', Y: 'X' };
    src.fault = (api, params) => {
      if (api !== '/cases') return undefined;
      const dir = params.get('directoryId');
      const cursor = params.get('cursor') ?? '';
      if (dir === 'd0') return { status: 200, body: JSON.stringify({ records: [] }) };
      if (dir === 'd1') return { status: 200, body: JSON.stringify({ items: [], next: 'again' }) };
      if (dir === 'd0.sub') return { status: 200, body: JSON.stringify({ items: [], next: loop[cursor] }) };
      return undefined;
    };
    const view = await d.runToEnd(run('ht-contract', { strategy: { shards: 4 } }));
    expect(view.state).toBe('PARTIALLY_COMPLETED');
    const errors = view.shards.map((s) => s.lastError ?? '').join('\n');
    expect(errors).toMatch(/broke its contract .*items/);
    expect(errors).toMatch(/same cursor again/);
    expect(errors).toMatch(/go round in a circle in directory "d0.sub"/);
  });

  it('fails the task at once on a wrong token', async () => {
    seed(1, 1);
    const view = await d.runToEnd(run('ht-401', { settings: src.settings({ token: 'wrong' }) }));
    expect(view.state).toBe('FAILED');
    expect(view.lastError).toMatch(/credentials rejected/);
    expect(src.requests.length).toBe(1);
  });
});

describe('control of single shards and retries', () => {
  it('pauses one shard while the others finish; the task stays open until it is resumed, then ends exact', async () => {
    seed(4, 3);
    const { taskId } = await startRun(
      env.services,
      tenant,
      run('ht-shard-pause', { strategy: { shards: 2, pageSize: 1 } }),
    );
    let paused = false;
    src.onRequest = (api) => {
      if (!paused && api === '/cases') {
        paused = true;
        void controlRunShard(env.services, tenant, taskId, 's0', 'pause');
      }
    };
    await d.runUntil('s1 to complete and s0 to park', async () => {
      const v = await d.view(taskId);
      return v.shards[0]?.state === 'PAUSED' && v.shards[1]?.state === 'COMPLETED';
    });
    const v = await d.view(taskId);
    expect(v.state).toBe('PAUSED');
    const requests = src.requests.length;
    while (await d.step()) {}
    expect(src.requests.length).toBe(requests);
    const resumed = await controlRunShard(env.services, tenant, taskId, 's0', 'resume');
    expect(resumed.state).toBe('RUNNING');
    expect(resumed.shards).toEqual([expect.objectContaining({ shardId: 's0', state: 'PENDING' })]);
    await d.runUntil('the task to complete', async () => (await d.view(taskId)).state === 'COMPLETED');
    expect(await liveTree(env.db, 'ht-shard-pause')).toEqual(expected());
    const pages = src.requests.filter((r) => r.api.startsWith('/cases')).map((r) => r.api);
    // At most the page in flight when the pause landed is asked for twice.
    expect(pages.length - new Set(pages).size).toBeLessThanOrEqual(1);
  });

  it('retries with each scope: FAILED, ALL, then SHARDS by id', async () => {
    seed(3, 1);
    let failing = true;
    src.fault = (api, params) =>
      failing && api === '/cases' && params.get('directoryId')?.startsWith('d1')
        ? { status: 400 }
        : undefined;
    const view = await d.runToEnd(run('ht-retry', { strategy: { shards: 3 } }));
    expect(view.state).toBe('PARTIALLY_COMPLETED');
    const failed = view.shards.filter((s) => s.state === 'FAILED').map((s) => s.shardId);
    expect(failed.length).toBeGreaterThan(0);

    const settled = () =>
      d.runUntil('the retry to settle', async () => (await d.view(view.id)).state === 'PARTIALLY_COMPLETED');

    // FAILED, with the source still failing: only the failed shard runs, and fails again.
    let from = src.requests.length;
    await controlRun(env.services, tenant, view.id, 'retry', { scope: 'FAILED' });
    await settled();
    expect(src.requests.slice(from).every((r) => r.api.includes('directoryId=d1'))).toBe(true);
    // ALL: every shard runs again from its start.
    from = src.requests.length;
    await controlRun(env.services, tenant, view.id, 'retry', { scope: 'ALL' });
    await settled();
    const dirsAsked = src.requests
      .slice(from)
      .map((r) => new URL(r.api, 'http://x').searchParams.get('directoryId'));
    expect(new Set(dirsAsked)).toEqual(new Set(['d0', 'd0.sub', 'd1', 'd2', 'd2.sub']));
    // SHARDS, once the source is fixed: only the named shard runs, and the task completes exact.
    failing = false;
    from = src.requests.length;
    const [shardNo] = failed.map((id) => Number(id.slice(1)));
    await controlRun(env.services, tenant, view.id, 'retry', {
      scope: 'SHARDS',
      shardNos: [shardNo as number],
    });
    await d.runUntil('the task to complete', async () => (await d.view(view.id)).state === 'COMPLETED');
    expect(src.requests.slice(from).every((r) => r.api.includes('directoryId=d1'))).toBe(true);
    expect(await liveTree(env.db, 'ht-retry')).toEqual(expected());
  });

  it('a shard message delivered twice at once writes each record once and ends exact', async () => {
    seed(2, 3);
    const { taskId } = await startRun(
      env.services,
      tenant,
      run('ht-twice', { strategy: { shards: 2, pageSize: 2 } }),
    );
    await d.step(); // the plan
    const t = topology(env.config.AMQP_PREFIX);
    const m = await env.channel.get(t.queue('http-tree@1'), { noAck: false });
    if (m === false) throw new Error('no shard message queued');
    const msg = engineMessageSchema.parse(
      JSON.parse(decodeBody(m.content, m.properties.contentEncoding, 'm')),
    );
    const outcomes = await Promise.all([
      runShard(env.services.engine, msg, { deadline: Date.now() + 60_000 }),
      runShard(env.services.engine, msg, { deadline: Date.now() + 60_000 }),
    ]);
    env.channel.ack(m);
    expect(outcomes).toContain('completed');
    await d.runUntil('the task to complete', async () => (await d.view(taskId)).state === 'COMPLETED');
    expect(await liveTree(env.db, 'ht-twice')).toEqual(expected());
    const v = await d.view(taskId);
    expect(v.progress).toMatchObject({ records: src.cases.size });
  });
});

describe('a shard message RabbitMQ gave up on', () => {
  it('fails its shard with the reason, parks the message, and a retry completes the run exact', async () => {
    seed(2, 2);
    const { taskId } = await startRun(env.services, tenant, run('ht-dead', { strategy: { shards: 2 } }));
    await d.step(); // the plan
    const t = topology(env.config.AMQP_PREFIX);
    const m = await env.channel.get(t.queue('http-tree@1'), { noAck: false });
    if (m === false) throw new Error('no shard message queued');
    env.channel.ack(m);
    expect(await recordDeadShards(env.services, deadEvent(m, t.deadQueue('http-tree@1')), 'collector')).toBe(
      1,
    );
    const parked = await env.channel.get(t.parkedQueue('http-tree@1'), { noAck: true });
    expect(parked === false ? undefined : parked.content).toEqual(m.content);
    await d.runUntil(
      'the task to settle',
      async () => (await d.view(taskId)).state === 'PARTIALLY_COMPLETED',
    );
    const failed = (await d.view(taskId)).shards.filter((s) => s.state === 'FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.lastError).toMatch(/dead-lettered/);
    await controlRun(env.services, tenant, taskId, 'retry');
    await d.runUntil('the retry to complete', async () => (await d.view(taskId)).state === 'COMPLETED');
    expect(await liveTree(env.db, 'ht-dead')).toEqual(expected());
  });
});

describe('strategy', () => {
  it('runs at most `concurrency` shards of a task at once, even when their messages arrive together', async () => {
    seed(3, 3);
    src.latencyMs = 40;
    const { taskId } = await startRun(
      env.services,
      tenant,
      run('ht-conc', { strategy: { shards: 6, pageSize: 1, concurrency: 1 } }),
    );
    await d.step(); // the plan
    const outcomes = await d.runAtOnce('http-tree@1', 6);
    expect(outcomes.sort()).toEqual(['busy', 'busy', 'busy', 'busy', 'busy', 'completed']);
    src.latencyMs = 0;
    await d.runUntil('the task to complete', async () => (await d.view(taskId)).state === 'COMPLETED');
    expect(await liveTree(env.db, 'ht-conc')).toEqual(expected());
  });

  it('answers one 400 listing every problem of the settings, a URL that is none included', async () => {
    const err = await startRun(env.services, tenant, {
      ...run('ht-bad'),
      settings: { baseUrl: 'not a url', token: 5, extra: 1 },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    const paths = (err as { details: { path: string }[] }).details.map((p) => p.path).sort();
    expect(paths).toEqual(['settings', 'settings.baseUrl', 'settings.token']);
  });
});

describe('a plan message that overtakes its task', () => {
  it('is planned once the unit that created the task commits (it was published inside it)', async () => {
    seed(1, 1);
    const taskId = crypto.randomUUID();
    const conn = await env.db.getConnection();
    try {
      await conn.beginTransaction();
      await conn.query(
        `INSERT INTO collect_task (id, tenant_id, kind, collector, source, mode, state, sealed, tree_version, settings, strategy)
         VALUES (?, ?, 'collect', 'http-tree', 'ht-overtake', 'FULL', 'CREATED', 0, 1, ?, ?)`,
        [taskId, tenant, JSON.stringify(src.settings()), JSON.stringify({ shards: 1 })],
      );
      // It took its source at tree version 1, as startRun does in the same unit.
      await conn.query(
        `INSERT INTO tree_source (tenant_id, source, last_version, active_task_id) VALUES (?, 'ht-overtake', 1, ?)`,
        [tenant, taskId],
      );
      // The plan message is consumed while the creating unit has not committed yet.
      const planning = planTask(env.services.engine, { taskId, attempt: 0 });
      await waitFor('the planner to wait for the task row', async () => {
        const [rows] = await env.db.query<RowDataPacket[]>(
          `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'
             AND trx_query LIKE '%FROM collect_task WHERE id = %FOR UPDATE%'`,
        );
        return Number(rows[0]?.n) > 0 ? true : undefined;
      });
      await conn.commit();
      expect(await planning).toBe('planned');
    } finally {
      conn.release();
    }
    await d.runUntil('the run to complete', async () => (await d.view(taskId)).state === 'COMPLETED');
  });
});
