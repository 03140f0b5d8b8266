import { decodeBody, topology } from '@collect/common';
import { planTask, runShard } from '@collect/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisFlowControl } from '../../functions/collect/src/adapters/flow-control.redis';
import {
  engineMessageSchema,
  toPlanMessage,
} from '../../functions/collect/src/adapters/shard-queue.rabbitmq';
import { deleteFlow, getFlow, listFlow, putFlow } from '../../functions/collect/src/app/flow';
import { openImport } from '../../functions/collect/src/app/import-parts';
import { startRun, taskLogs, viewTask } from '../../functions/collect/src/app/runs';
import { submitImport } from '../../functions/collect/src/app/submit-import';
import { flowKeysOf } from '../../functions/collect/src/flow-keys';
import { engineDriver } from '../support/engine-driver';
import { FakeTreeSource } from '../support/fake-tree-source';
import { liveTree } from '../support/stores';
import { createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait';

let env: TestEnv;
let src: FakeTreeSource;
const tenant = 'flow-tenant';

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});
beforeEach(async () => {
  src = new FakeTreeSource();
  await src.start();
});
afterEach(async () => {
  await src.stop();
  for (const l of (await listFlow(env.services)).items) await deleteFlow(env.services, l.key);
});

const hostKey = () => `host:${new URL(src.baseUrl).host}`;

describe('flow limits over the API', () => {
  it('are published again from MySQL when Redis has lost them (a restart keeps nothing)', async () => {
    const key = hostKey();
    await putFlow(env.services, key, { concurrency: 3 });
    const fresh = new RedisFlowControl(env.redis, 0, Date.now, () => env.services.flowLimits.publish());
    expect((await fresh.current()).get(key)).toMatchObject({ concurrency: 3 });
    await env.redis.del('flow/limits', 'flow/version');
    expect((await fresh.current()).get(key)).toMatchObject({ concurrency: 3 });
    expect(await env.redis.hget('flow/limits', key)).toContain('"concurrency":3');
  });

  it('sets, reads (with what is in use), lists and deletes a limit; every problem in one 400', async () => {
    const key = hostKey();
    const set = await putFlow(env.services, encodeURIComponent(key), {
      concurrency: 2,
      ratePerSecond: 50,
      burst: 10,
    });
    expect(set).toMatchObject({
      key,
      limit: { concurrency: 2, ratePerSecond: 50, burst: 10 },
      inUse: { concurrency: 0 },
    });
    expect(await getFlow(env.services, key)).toMatchObject({ key, limit: { concurrency: 2 } });
    expect((await listFlow(env.services)).items.map((l) => l.key)).toEqual([key]);
    const later = await putFlow(env.services, key, { concurrency: 1 });
    expect(later.version).toBeGreaterThan(set.version);
    expect(later.limit).toEqual({ concurrency: 1, ratePerSecond: null, burst: null, tasks: null });

    const err = await putFlow(env.services, 'disk:c', { concurrency: -1, burst: 3, extra: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ status: 400 });
    expect((err as { details: { path: string }[] }).details.map((p) => p.path).sort()).toEqual(
      ['burst', 'concurrency', 'extra', 'key'].sort(),
    );
    await expect(putFlow(env.services, 'tenant:acme', {})).rejects.toMatchObject({ status: 400 });
    await expect(putFlow(env.services, 'job:not-a-uuid', { concurrency: 1 })).rejects.toMatchObject({
      status: 400,
    });
    // A function key names one of the service's queue consumers: a typo is not a silent no-op.
    const typo = await putFlow(env.services, 'function:runShardTestrail', { concurrency: 1 }).catch(
      (e: unknown) => e,
    );
    expect(typo).toMatchObject({ status: 400, details: [{ path: 'key', code: 'unknown_function' }] });
    expect(JSON.stringify(typo)).toContain('runShardTestrail1');
    // A function's limit is its concurrency, and nothing else.
    const rateOnly = await putFlow(env.services, 'function:runShardTestrail1', {
      ratePerSecond: 5,
      burst: 2,
    }).catch((e: unknown) => e);
    expect(rateOnly).toMatchObject({
      status: 400,
      details: expect.arrayContaining([
        expect.objectContaining({ path: 'concurrency', code: 'function_needs_concurrency' }),
        expect.objectContaining({ path: 'ratePerSecond', code: 'not_for_functions' }),
        expect.objectContaining({ path: 'burst', code: 'not_for_functions' }),
      ]),
    });
    expect((await listFlow(env.services)).items).toHaveLength(1);

    expect(await deleteFlow(env.services, key)).toEqual({ key, limit: null });
    await expect(deleteFlow(env.services, key)).rejects.toMatchObject({ status: 404 });
    expect(await getFlow(env.services, key)).toMatchObject({ key, limit: null, inUse: { concurrency: 0 } });
  });
});

describe('flow limits on a run', () => {
  it("runs a run's shards under its tenant, job and source host", () => {
    expect(
      flowKeysOf({
        tenantId: 'acme',
        jobId: '00000000-0000-4000-8000-000000000001',
        settings: { baseUrl: 'https://Tree.Example:8443/api' },
      } as never),
    ).toEqual(['tenant:acme', 'job:00000000-0000-4000-8000-000000000001', 'host:tree.example:8443']);
    expect(flowKeysOf({ tenantId: 'acme', settings: {} } as never)).toEqual(['tenant:acme']);
  });

  it('never has more requests at the source than its host limit, whatever runs at once, and ends exact', async () => {
    for (let i = 0; i < 4; i += 1) {
      src.addDirectory(`d${i}`, `Directory ${i}`);
      for (let k = 0; k < 3; k += 1) src.addCase(`c${i}.${k}`, `d${i}`, `Case ${i}.${k}`);
    }
    src.latencyMs = 30;
    await putFlow(env.services, hostKey(), { concurrency: 1 });
    const d = engineDriver(env, tenant);
    const { taskId } = await startRun(env.services, tenant, {
      collector: 'http-tree',
      source: 'flow-host',
      mode: 'FULL',
      settings: src.settings(),
      strategy: { shards: 4, pageSize: 1 },
    });
    await d.step(); // the plan
    src.maxInFlight = 0;
    // Four workers take the four shard messages at once.
    const outcomes = await d.runAtOnce('http-tree@1', 4);
    expect(outcomes.filter((o) => o === 'busy').length).toBeGreaterThanOrEqual(1);
    await d.runUntil('the run to complete', async () => (await d.view(taskId)).state === 'COMPLETED', 60_000);
    expect(src.maxInFlight).toBe(1);
    expect(await liveTree(env.db, 'flow-host', tenant)).toHaveLength(4 + 12);
    const logs = await taskLogs(env.services, tenant, taskId, { limit: 500 });
    expect(JSON.stringify(logs)).toContain('shard.flow-wait');
    expect(await getFlow(env.services, hostKey())).toMatchObject({ inUse: { concurrency: 0 } });
  });
});

describe("a tenant's quota of tasks", () => {
  it('refuses a start beyond it with 429 and Retry-After, writing nothing, and takes it once a task ends', async () => {
    src.addDirectory('d', 'Directory');
    src.addCase('c', 'd', 'Case');
    const quotaTenant = `quota-${Date.now()}`;
    const key = `tenant:${quotaTenant}`;
    expect(await putFlow(env.services, key, { tasks: 1 })).toMatchObject({ limit: { tasks: 1 } });
    await expect(putFlow(env.services, hostKey(), { tasks: 1 })).rejects.toMatchObject({
      status: 400,
      details: [expect.objectContaining({ path: 'tasks' })],
    });
    const run = (source: string) => ({
      collector: 'http-tree',
      source,
      mode: 'FULL',
      settings: src.settings(),
    });
    const first = await startRun(env.services, quotaTenant, run('quota-a'));
    const refused = await startRun(env.services, quotaTenant, run('quota-b')).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      status: 429,
      code: 'TOO_MANY_TASKS',
      retryAfterSeconds: 30,
      details: { quota: 1, unfinished: 1 },
    });
    // Imports are tasks too: refused the same way.
    await expect(
      submitImport(env.services, quotaTenant, {
        source: 'quota-import',
        mode: 'FULL',
        tree: [{ id: 'd', type: 'DIRECTORY', name: 'D' }],
      }),
    ).rejects.toMatchObject({ status: 429, code: 'TOO_MANY_TASKS' });
    await expect(openImport(env.services, quotaTenant, 'quota-parts')).rejects.toMatchObject({ status: 429 });
    const [rows] = await env.db.query('SELECT COUNT(*) AS n FROM collect_task WHERE tenant_id = ?', [
      quotaTenant,
    ]);
    expect(Number((rows as { n: number }[])[0]?.n)).toBe(1);
    const d = engineDriver(env, quotaTenant);
    await d.runUntil(
      'the first run to complete',
      async () => (await d.view(first.taskId)).state === 'COMPLETED',
    );
    await expect(startRun(env.services, quotaTenant, run('quota-b'))).resolves.toMatchObject({
      taskId: expect.any(String),
    });
    // A quota of 0 says what to do: waiting would not help.
    await putFlow(env.services, key, { tasks: 0 });
    await expect(startRun(env.services, quotaTenant, run('quota-c'))).rejects.toMatchObject({
      status: 429,
      message: expect.stringMatching(/quota of 0 tasks: nothing starts until the quota is raised/),
    });
    await deleteFlow(env.services, key);
  });
});

describe('a circuit breaker per source host, on the real stores', () => {
  let benv: TestEnv;
  beforeAll(async () => {
    benv = await createTestEnv({ BREAKER_FAILURES: '2', BREAKER_COOLDOWN_MS: '300' });
  });
  afterAll(async () => {
    await benv?.close();
  });

  it('parks the shards while the host fails, shows it, and resumes them by itself once a probe succeeds', async () => {
    for (let i = 0; i < 3; i += 1) {
      src.addDirectory(`d${i}`, `Directory ${i}`);
      for (let k = 0; k < 2; k += 1) src.addCase(`c${i}.${k}`, `d${i}`, `Case ${i}.${k}`);
    }
    let failing = true;
    src.fault = (api) => (failing && api === '/cases' ? { status: 503 } : undefined);
    const d = engineDriver(benv, tenant);
    const { taskId } = await startRun(benv.services, tenant, {
      collector: 'http-tree',
      source: 'breaker',
      mode: 'FULL',
      settings: src.settings(),
      strategy: { shards: 3, pageSize: 5 },
    });
    await d.runUntil('the breaker to park a shard', async () =>
      (await d.view(taskId)).shards.some((s) => s.state === 'PAUSED'),
    );
    const view = await d.view(taskId);
    expect(view.breakers).toEqual([
      expect.objectContaining({ key: hostKey(), state: expect.stringMatching(/OPEN/) }),
    ]);
    const parked = view.shards.filter((s) => s.state === 'PAUSED');
    expect(parked[0]?.lastError).toMatch(/^BREAKER_OPEN: host:/);
    const open = await getFlow(benv.services, hostKey());
    expect(open.breaker).toMatchObject({ state: expect.stringMatching(/OPEN/) });
    // The 503s also brought the host's rate down (AIMD), shared by every worker.
    expect(open.adapted.ratePerSecond).toBeLessThan(10);
    failing = false;
    await d.runUntil('the run to complete', async () => (await d.view(taskId)).state === 'COMPLETED', 60_000);
    expect(await liveTree(benv.db, 'breaker', tenant)).toHaveLength(3 + 6);
    expect((await getFlow(benv.services, hostKey())).breaker).toMatchObject({ state: 'CLOSED', parked: 0 });
    // Parked shards spent no attempt while the breaker was open.
    expect((await d.view(taskId)).shards.every((s) => s.attempts <= 2)).toBe(true);
  });
});

describe('tenants sharing workers', () => {
  it("lets another tenant's small run through while a tenant with a concurrency limit runs a big one", async () => {
    for (let i = 0; i < 10; i += 1) {
      src.addDirectory(`d${i}`, `Directory ${i}`);
      src.addCase(`c${i}`, `d${i}`, `Case ${i}`);
    }
    src.latencyMs = 40;
    const [big, small] = [`big-${Date.now()}`, `small-${Date.now()}`];
    await putFlow(env.services, `tenant:${big}`, { concurrency: 1 });
    const settings = src.settings();
    const bigRun = await startRun(env.services, big, {
      collector: 'http-tree',
      source: 'fair-big',
      mode: 'FULL',
      settings,
      strategy: { shards: 8, pageSize: 1 },
    });
    const smallRun = await startRun(env.services, small, {
      collector: 'http-tree',
      source: 'fair-small',
      mode: 'FULL',
      settings,
      strategy: { shards: 2, pageSize: 1 },
    });
    // Three workers take messages in queue order (the big run's shards are queued first).
    const t = topology(env.config.AMQP_PREFIX);
    const finished = new Map<string, number>();
    let running = true;
    const worker = async () => {
      while (running) {
        let worked = false;
        for (const queue of ['plan', 'http-tree@1'] as const) {
          const m = await env.channel.get(t.queue(queue), { noAck: false });
          if (m === false) continue;
          const msg = engineMessageSchema.parse(
            JSON.parse(decodeBody(m.content, m.properties.contentEncoding, 'm')),
          );
          if (queue === 'plan') await planTask(env.services.engine, toPlanMessage(msg));
          else await runShard(env.services.engine, msg, { deadline: Date.now() + 60_000 });
          env.channel.ack(m);
          worked = true;
          break;
        }
        for (const [tenantId, id] of [
          [big, bigRun.taskId],
          [small, smallRun.taskId],
        ] as const)
          if (!finished.has(id) && (await viewTask(env.services, tenantId, id)).state === 'COMPLETED')
            finished.set(id, Date.now());
        if (!worked) await new Promise((r) => setTimeout(r, 20));
      }
    };
    const workers = [worker(), worker(), worker()];
    try {
      await waitFor('both runs to complete', async () => finished.size === 2 || undefined, 60_000);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    // The small run did not wait for the big one: it ended first.
    expect(finished.get(smallRun.taskId)).toBeLessThan(finished.get(bigRun.taskId) as number);
  });
});

describe('flow keys', () => {
  it('take an IPv6 host and refuse a port out of range', async () => {
    expect(await putFlow(env.services, 'host:[::1]:8080', { concurrency: 1 })).toMatchObject({
      key: 'host:[::1]:8080',
    });
    await expect(putFlow(env.services, 'host:example.com:99999', { concurrency: 1 })).rejects.toMatchObject({
      status: 400,
    });
    await expect(putFlow(env.services, 'host:example.com:0', { concurrency: 1 })).rejects.toMatchObject({
      status: 400,
    });
    await expect(
      putFlow(env.services, 'host:example.com', { ratePerSecond: 0.0000001 }),
    ).rejects.toMatchObject({
      status: 400,
    });
    // Not host names: they could never match a source.
    for (const key of [
      'host:-',
      'host:a..b',
      'host:-a.b',
      'host:a.b-',
      'host:.',
      'host:a_b.c',
      // Not as a URL writes them, so no shard's key: invalid, non-canonical, a default port.
      'host:[:::::]',
      'host:999.999.999.999',
      'host:0x7f.1',
      'host:[::ffff:1.2.3.4]',
      'host:acme.io:80',
      'host:acme.io:080',
    ])
      await expect(putFlow(env.services, key, { concurrency: 1 }), key).rejects.toMatchObject({
        status: 400,
        details: [expect.objectContaining({ code: 'invalid_key' })],
      });
  });

  it("list every problem of a function's limit, whatever else is wrong with the body", async () => {
    const problems = async (body: unknown) =>
      (
        (await putFlow(env.services, 'function:runShardTestrail1', body).catch((e: unknown) => e)) as {
          details: { path: string; code: string }[];
        }
      ).details.map((d) => `${d.path}:${d.code}`);
    expect(await problems({ ratePerSecond: -1 })).toEqual(
      expect.arrayContaining([
        'ratePerSecond:too_small',
        'concurrency:function_needs_concurrency',
        'ratePerSecond:not_for_functions',
      ]),
    );
    expect(await problems({ concurrency: -1, ratePerSecond: 5 })).toEqual(
      expect.arrayContaining(['concurrency:too_small', 'ratePerSecond:not_for_functions']),
    );
    expect(await problems({})).toEqual(['concurrency:function_needs_concurrency']);
  });
});
