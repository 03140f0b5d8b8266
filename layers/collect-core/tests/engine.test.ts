import { describe, expect, it } from 'vitest';
import type { Task } from '../src';
import {
  abandonMessage,
  controlShard,
  controlTask,
  planTask,
  requeueStalledShards,
  runShard,
  settleTask,
  shardIdOf,
} from '../src';
import { MemoryBreakers, MemoryFlowControl } from '../src/testing';
import { engine, fakeCollector, httpError, newTask, type ShardMessage } from './harness';

type Env = ReturnType<typeof engine>;
const FAR = Number.MAX_SAFE_INTEGER;

/** Lets the event loop turn until `ok` holds (in-memory ports: a few turns), or fails. */
async function waitUntil(ok: () => boolean, turns = 1000): Promise<void> {
  for (let i = 0; i < turns && !ok(); i += 1) await new Promise((resolve) => setImmediate(resolve));
  expect(ok()).toBe(true);
}

/** Runs queued shard messages until none is left (delays are skipped). */
async function drain(env: Env, max = 500): Promise<string[]> {
  const outcomes: string[] = [];
  for (let i = 0; i < max; i += 1) {
    const next = env.queue.messages.shift();
    if (!next) return outcomes;
    // A delayed message is due now: the fake clock jumps to it.
    if (next.message.notBefore !== undefined) env.clock.t = Math.max(env.clock.t, next.message.notBefore);
    outcomes.push(await runShard(env.deps, next.message, { deadline: FAR }));
  }
  throw new Error('the queue never drained');
}

async function started(env: Env, strategy = {}) {
  env.tasks.insertTask(newTask('t1', strategy));
  expect(await planTask(env.deps, { taskId: 't1', attempt: 0 })).toBe('planned');
}

describe('a run through the engine', () => {
  it('plans, runs every shard page by page and completes with every record once', async () => {
    const c = fakeCollector({ shards: 3, pages: 4 });
    const env = engine(c);
    await started(env);
    expect(env.pages.planned).toEqual([{ id: 'dir', shard: -1 }]);
    expect(await drain(env)).toEqual(['completed', 'completed', 'completed']);
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
    expect(env.pages.records.size).toBe(3 * 4 * 2);
    expect(c.fetches.length).toBe(12);
    expect(env.lifecycle.calls.map((c) => `${c.step}:${c.state}`)).toEqual([
      'finishing:COMPLETED',
      'finished:COMPLETED',
    ]);
    const shards = await env.tasks.getShards('t1');
    expect(shards.map((s) => [s.state, s.pages, s.records, s.cursor])).toEqual([
      ['COMPLETED', 4, 8, null],
      ['COMPLETED', 4, 8, null],
      ['COMPLETED', 4, 8, null],
    ]);
  });

  it('completes at once when the plan has no shard', async () => {
    const env = engine(fakeCollector({ shards: 0, pages: 1 }));
    await started(env);
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
  });
});

describe('pause and resume', () => {
  it('parks a running shard at the next page boundary and resumes from its cursor without fetching a page twice', async () => {
    let env!: Env;
    let paused = false;
    const c = fakeCollector({
      shards: 1,
      pages: 5,
      onFetch: (_s, page) => {
        // The pause arrives while page 2 is being fetched: page 2 still lands, then the shard parks.
        if (page === 2 && !paused) {
          paused = true;
          void controlTask(env.deps, 't1', 'pause');
        }
      },
    });
    env = engine(c);
    await started(env);
    expect(await drain(env)).toEqual(['paused']);
    const shard = (await env.tasks.getShards('t1'))[0];
    expect(shard).toMatchObject({ state: 'PAUSED', cursor: 3, pages: 3 });
    expect((await env.tasks.getTask('t1'))?.state).toBe('PAUSED');
    const fetchedWhilePaused = c.fetches.length;
    const resumed = await controlTask(env.deps, 't1', 'resume');
    expect(resumed.state).toBe('RUNNING');
    expect(await drain(env)).toEqual(['completed']);
    expect(c.fetches.slice(fetchedWhilePaused)).toEqual([
      [0, 3],
      [0, 4],
    ]);
    expect(c.fetches.map(([, p]) => p)).toEqual([0, 1, 2, 3, 4]);
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
  });

  it('parks a queued shard without fetching, and keeps the task from completing', async () => {
    const c = fakeCollector({ shards: 2, pages: 2 });
    const env = engine(c);
    await started(env);
    const r = await controlShard(env.deps, 't1', 1, 'pause');
    expect(r.shards).toEqual([{ shardId: shardIdOf(1), state: 'PAUSED', requested: null }]);
    expect(await drain(env)).toEqual(['completed', 'skipped']);
    expect(c.fetches.every(([s]) => s === 0)).toBe(true);
    expect((await env.tasks.getTask('t1'))?.state).toBe('PAUSED');
    await controlShard(env.deps, 't1', 1, 'resume');
    expect(await drain(env)).toEqual(['completed']);
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
  });

  it('answers ILLEGAL_TRANSITION with the current state for a pause of a paused task', async () => {
    const env = engine(fakeCollector({ shards: 1, pages: 1 }));
    await started(env);
    await controlTask(env.deps, 't1', 'pause');
    await expect(controlTask(env.deps, 't1', 'pause')).rejects.toMatchObject({
      code: 'ILLEGAL_TRANSITION',
      details: { state: 'PAUSED' },
    });
  });

  it('does not plan a task paused before planning, and plans it on resume', async () => {
    const c = fakeCollector({ shards: 1, pages: 1 });
    const env = engine(c);
    env.tasks.insertTask(newTask('t1'));
    expect((await controlTask(env.deps, 't1', 'pause')).state).toBe('PAUSED');
    expect(await planTask(env.deps, { taskId: 't1', attempt: 0 })).toBe('skipped');
    expect(env.pages.planned).toEqual([]);
    await controlTask(env.deps, 't1', 'resume');
    expect(env.queue.plans.length).toBe(1);
    await planTask(env.deps, { taskId: 't1', attempt: 0 });
    expect(await drain(env)).toEqual(['completed']);
  });
});

describe('stop', () => {
  it('is final: queued messages do nothing and the task ends STOPPED', async () => {
    const c = fakeCollector({ shards: 2, pages: 2 });
    const env = engine(c);
    await started(env);
    expect((await controlTask(env.deps, 't1', 'stop')).state).toBe('STOPPED');
    expect(await drain(env)).toEqual(['skipped', 'skipped']);
    expect(c.fetches).toEqual([]);
    await expect(controlTask(env.deps, 't1', 'resume')).rejects.toMatchObject({ code: 'ILLEGAL_TRANSITION' });
    await expect(controlTask(env.deps, 't1', 'retry')).rejects.toMatchObject({ code: 'ILLEGAL_TRANSITION' });
  });

  it('stops a running shard at its next page boundary', async () => {
    let env!: Env;
    const c = fakeCollector({
      shards: 1,
      pages: 4,
      onFetch: (_s, p) => {
        if (p === 1) void controlShard(env.deps, 't1', 0, 'stop');
      },
    });
    env = engine(c);
    await started(env);
    expect(await drain(env)).toEqual(['stopped']);
    expect((await env.tasks.getShards('t1'))[0]).toMatchObject({ state: 'STOPPED', pages: 2 });
    expect((await env.tasks.getTask('t1'))?.state).toBe('STOPPED');
  });
});

describe('a store that refuses a page (the run may no longer write)', () => {
  it('stops the shard at once, writing nothing of that page, and settles the task', async () => {
    let env!: Env;
    const c = fakeCollector({
      shards: 1,
      pages: 4,
      onFetch: (_s, p) => {
        if (p === 1) env.pages.refused.add('t1');
      },
    });
    env = engine(c);
    await started(env);
    expect(await drain(env)).toEqual(['stopped']);
    expect(env.pages.commits).toHaveLength(1);
    expect((await env.tasks.getShards('t1'))[0]).toMatchObject({ state: 'STOPPED', pages: 1 });
    expect((await env.tasks.getTask('t1'))?.state).toBe('STOPPED');
  });
});

describe('failures and retries', () => {
  it('retries a failing page with backoff until it succeeds', async () => {
    let failures = 0;
    const c = fakeCollector({
      shards: 1,
      pages: 2,
      onFetch: (_s, p) => {
        if (p === 1 && failures < 3) {
          failures += 1;
          throw httpError(503);
        }
      },
    });
    const env = engine(c);
    await started(env);
    expect(await drain(env)).toEqual(['retrying', 'retrying', 'retrying', 'completed']);
    expect((await env.tasks.getShards('t1'))[0]).toMatchObject({
      state: 'COMPLETED',
      attempts: 3,
      records: 4,
    });
    const retries = env.events.entries.filter((e) => e.type === 'shard.retry');
    expect(retries.length).toBe(3);
  });

  it('waits as told on 429 without spending attempts', async () => {
    let limited = 0;
    const c = fakeCollector({
      shards: 1,
      pages: 1,
      onFetch: () => {
        if (limited < 7) {
          limited += 1;
          throw httpError(429, 30_000);
        }
      },
    });
    const env = engine(c);
    await started(env);
    const delays: number[] = [];
    for (;;) {
      const m = env.queue.messages.shift();
      if (!m) break;
      if (m.delayMs) delays.push(m.delayMs);
      if (m.message.notBefore !== undefined) env.clock.t = m.message.notBefore;
      await runShard(env.deps, m.message, { deadline: FAR });
    }
    expect(delays).toEqual(Array(7).fill(30_000));
    expect((await env.tasks.getShards('t1'))[0]).toMatchObject({ state: 'COMPLETED', attempts: 0 });
  });

  it('fails a shard that always fails, lists its error, and the others complete', async () => {
    const c = fakeCollector({
      shards: 3,
      pages: 2,
      onFetch: (s) => {
        if (s === 1) throw httpError(500);
      },
    });
    const env = engine(c);
    await started(env, { retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 100 } });
    await drain(env);
    const shards = await env.tasks.getShards('t1');
    expect(shards.map((s) => s.state)).toEqual(['COMPLETED', 'FAILED', 'COMPLETED']);
    expect(shards[1]).toMatchObject({ attempts: 3, lastError: 'HTTP 500' });
    expect((await env.tasks.getTask('t1'))?.state).toBe('PARTIALLY_COMPLETED');
  });

  it('fails a shard at once on 404 and the whole task at once on 401', async () => {
    const c404 = fakeCollector({
      shards: 1,
      pages: 1,
      onFetch: () => {
        throw httpError(404);
      },
    });
    const a = engine(c404);
    await started(a);
    expect(await drain(a)).toEqual(['failed']);
    expect((await a.tasks.getTask('t1'))?.state).toBe('FAILED');

    const c401 = fakeCollector({
      shards: 3,
      pages: 1,
      onFetch: () => {
        throw httpError(401);
      },
    });
    const b = engine(c401);
    await started(b);
    const outcomes = await drain(b);
    expect(outcomes[0]).toBe('task-failed');
    expect(c401.fetches.length).toBe(1);
    expect(await b.tasks.getTask('t1')).toMatchObject({ state: 'FAILED', lastError: 'HTTP 401' });
  });

  it('retries with each scope: FAILED from the checkpoint, ALL and SHARDS from the start', async () => {
    let broken = true;
    const c = fakeCollector({
      shards: 2,
      pages: 3,
      onFetch: (s, p) => {
        if (broken && s === 0 && p === 2) throw httpError(400);
      },
    });
    const env = engine(c);
    await started(env);
    await drain(env);
    expect((await env.tasks.getTask('t1'))?.state).toBe('PARTIALLY_COMPLETED');
    broken = false;
    let before = c.fetches.length;
    expect((await controlTask(env.deps, 't1', 'retry')).state).toBe('RUNNING');
    await drain(env);
    expect(c.fetches.slice(before)).toEqual([[0, 2]]);
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
    await expect(controlTask(env.deps, 't1', 'retry', { scope: 'ALL' })).rejects.toMatchObject({
      code: 'ILLEGAL_TRANSITION',
      details: { state: 'COMPLETED' },
    });

    // SHARDS on a partially completed task runs the named shard again from its start.
    broken = true;
    const env2 = engine(c);
    await started(env2);
    await drain(env2);
    broken = false;
    before = c.fetches.length;
    await controlTask(env2.deps, 't1', 'retry', { scope: 'SHARDS', shardNos: [1] });
    await drain(env2);
    expect(c.fetches.slice(before)).toEqual([
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    await expect(
      controlTask(env2.deps, 't1', 'retry', { scope: 'SHARDS', shardNos: [9] }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await controlTask(env2.deps, 't1', 'retry', { scope: 'ALL' });
    before = c.fetches.length;
    await drain(env2);
    expect(c.fetches.length - before).toBe(6);
    expect((await env2.tasks.getTask('t1'))?.state).toBe('COMPLETED');
  });
});

describe('fencing, duplicates and budgets', () => {
  it('lets only the newest claim write: a stale worker stops at its next commit', async () => {
    let env!: Env;
    let once = false;
    const c = fakeCollector({
      shards: 1,
      pages: 3,
      onFetch: (_s, p) => {
        // While the first delivery fetches page 1, the same message is delivered again and claims.
        if (p === 1 && !once) {
          once = true;
          void env.tasks.withShard('t1', 0, (v) => ({
            result: true,
            patch: { event: 'claim', epoch: v.shard.epoch + 1 },
          }));
        }
      },
    });
    env = engine(c);
    await started(env);
    const m = env.queue.messages.shift();
    expect(await runShard(env.deps, m?.message as never, { deadline: FAR })).toBe('stale');
    expect(env.pages.records.size).toBe(2);
  });

  it('changes nothing when a message is delivered twice', async () => {
    const env = engine(fakeCollector({ shards: 1, pages: 2 }));
    await started(env);
    const m = env.queue.messages[0]?.message;
    await drain(env);
    const before = env.pages.commits.length;
    expect(await runShard(env.deps, m as never, { deadline: FAR })).toBe('skipped');
    expect(env.pages.commits.length).toBe(before);
  });

  it('settles the task when a replay finds its shard done (its worker died before settling)', async () => {
    const env = engine(fakeCollector({ shards: 1, pages: 1 }));
    await started(env);
    const m = env.queue.messages.shift()?.message as ShardMessage;
    const finishing = env.lifecycle.finishing.bind(env.lifecycle);
    let crash = true;
    env.lifecycle.finishing = async (task, final) => {
      if (!crash) return finishing(task, final);
      crash = false;
      throw new Error('killed');
    };
    // The settle dies half-way (as its process would); what the run answers does not matter.
    await runShard(env.deps, m, { deadline: FAR }).catch(() => undefined);
    expect(crash).toBe(false);
    expect((await env.tasks.getShard('t1', 0))?.state).toBe('COMPLETED');
    expect((await env.tasks.getTask('t1'))?.state).toBe('RUNNING');
    expect(await runShard(env.deps, m, { deadline: FAR })).toBe('skipped');
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
  });

  it('hands a long shard over to a continuation once its time budget is spent', async () => {
    let env!: Env;
    const c = fakeCollector({
      shards: 1,
      pages: 4,
      onFetch: () => {
        env.clock.t += 1000;
      },
    });
    env = engine(c);
    await started(env);
    const first = env.queue.messages.shift()?.message;
    expect(await runShard(env.deps, first as never, { deadline: env.clock.now() + 1500 })).toBe('released');
    expect((await env.tasks.getShards('t1'))[0]).toMatchObject({ state: 'PENDING', pages: 2, cursor: 2 });
    expect(await drain(env)).toEqual(['completed']);
    expect(c.fetches.map(([, p]) => p)).toEqual([0, 1, 2, 3]);
  });

  it('runs at most `concurrency` shards of a task at once', async () => {
    const env = engine(fakeCollector({ shards: 3, pages: 1 }));
    await started(env, { concurrency: 1 });
    const [a, b] = [env.queue.messages.shift(), env.queue.messages.shift()];
    await env.tasks.withShard('t1', 0, (v) => ({
      result: 0,
      patch: { event: 'claim', epoch: v.shard.epoch + 1 },
    }));
    expect(await runShard(env.deps, b?.message as never, { deadline: FAR })).toBe('busy');
    expect(env.queue.messages.at(-1)?.delayMs).toBeGreaterThan(0);
    expect(a).toBeDefined();
  });
});

describe('messages the broker gave up on', () => {
  it('fails the shard of a dead message, keeps its page, and settles the task', async () => {
    const env = engine(fakeCollector({ shards: 2, pages: 1 }));
    await started(env);
    const [dead, alive] = env.queue.messages.splice(0, 2).map((m) => m.message);
    await runShard(env.deps, alive as ShardMessage, { deadline: FAR });
    const withPage = { ...(dead as ShardMessage), inline: { page: 'kept' } };
    expect(await abandonMessage(env.deps, withPage, 'dead-lettered')).toBe('failed');
    const shard = await env.tasks.getShard('t1', (dead as ShardMessage).shardNo);
    expect(shard).toMatchObject({ state: 'FAILED', lastError: 'dead-lettered' });
    expect(env.tasks.payloadOf('t1', shard?.shardNo as number)).toEqual({ page: 'kept' });
    expect((await env.tasks.getTask('t1'))?.state).toBe('PARTIALLY_COMPLETED');
    // Delivered to the dead queue again: nothing changes.
    expect(await abandonMessage(env.deps, withPage, 'again')).toBe('unchanged');
  });

  it('changes nothing for a message a newer one replaced, or a shard that settled', async () => {
    const env = engine(fakeCollector({ shards: 1, pages: 1 }));
    await started(env);
    const m = env.queue.messages[0]?.message as ShardMessage;
    await controlShard(env.deps, 't1', 0, 'pause');
    await controlShard(env.deps, 't1', 0, 'resume');
    expect(await abandonMessage(env.deps, m, 'old generation')).toBe('unchanged');
    await drain(env);
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
    expect(await abandonMessage(env.deps, { ...m, gen: 99 }, 'late')).toBe('unchanged');
  });

  it('fails a task whose plan message died before it was planned, and not one already planned', async () => {
    const env = engine(fakeCollector({ shards: 1, pages: 1 }));
    env.tasks.insertTask(newTask('t1'));
    expect(await abandonMessage(env.deps, { taskId: 't1', shardNo: -1, gen: 0 }, 'dead-lettered')).toBe(
      'failed',
    );
    expect(await env.tasks.getTask('t1')).toMatchObject({ state: 'FAILED' });
    expect((await env.tasks.getTask('t1'))?.lastError).toMatch(/dead-lettered/);
    const planned = engine(fakeCollector({ shards: 1, pages: 1 }));
    await started(planned);
    expect(await abandonMessage(planned.deps, { taskId: 't1', shardNo: -1, gen: 0 }, 'late')).toBe(
      'unchanged',
    );
  });
});

describe('push shards (their page travels in the message)', () => {
  /** A push collector: a shard's one page is what its message carries. */
  const pushCollector = () => {
    const c = fakeCollector({ shards: 0, pages: 1 });
    return {
      ...c,
      push: true,
      async fetchPage(ctx: { inline?: unknown }) {
        if (!Array.isArray(ctx.inline)) throw new Error('no page');
        return { items: ctx.inline as { id: string; shard: number }[], next: null };
      },
    };
  };
  const pushed = async (env: Env) => {
    env.tasks.insertTask({ ...newTask('t1'), collector: 'push', state: 'RUNNING', sealed: true });
    env.tasks.insertShard({
      taskId: 't1',
      shardNo: 0,
      state: 'PENDING',
      requested: null,
      epoch: 0,
      gen: 0,
      attempts: 0,
      spec: null,
      cursor: null,
      pages: 0,
      records: 0,
      failedRecords: 0,
      lastError: null,
    });
    return { taskId: 't1', shardNo: 0, gen: 0, inline: [{ id: 'a', shard: 0 }] } satisfies ShardMessage;
  };

  it('keeps the page of a shard paused in the queue, and applies it on resume', async () => {
    const env = engine(pushCollector() as never);
    const m = await pushed(env);
    await controlShard(env.deps, 't1', 0, 'pause');
    expect(await runShard(env.deps, m, { deadline: FAR })).toBe('skipped');
    expect(env.tasks.payloadOf('t1', 0)).toEqual(m.inline);
    await controlShard(env.deps, 't1', 0, 'resume');
    expect(env.queue.messages.map((q) => q.message)).toEqual([
      { taskId: 't1', shardNo: 0, gen: 1, inline: m.inline },
    ]);
    expect(await drain(env)).toEqual(['completed']);
    expect([...env.pages.records.keys()]).toEqual(['a']);
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
  });

  it('keeps its page when it waits for a flow slot: the message it goes back in carries it', async () => {
    // Found by the chaos run: a tenant limit made import shards yield without their chunk, and
    // they failed for good ("the shard's chunk is no longer kept").
    const env = engine(pushCollector() as never);
    const m = await pushed(env);
    const flow = new MemoryFlowControl(env.clock);
    env.deps.flow = flow;
    env.deps.flowKeys = () => ['tenant:t'];
    flow.limits.set('tenant:t', { concurrency: 1 });
    expect(await flow.enter(['tenant:t'], 'other#0', 60_000)).toBeUndefined();
    expect(await runShard(env.deps, m, { deadline: FAR })).toBe('busy');
    expect(env.queue.messages.map((q) => q.message)).toEqual([
      { taskId: 't1', shardNo: 0, gen: 1, inline: m.inline },
    ]);
    await flow.leave(['tenant:t'], 'other#0');
    expect(await drain(env)).toEqual(['completed']);
    expect([...env.pages.records.keys()]).toEqual(['a']);
  });

  it('lets the message still queued run a shard resumed before it arrived', async () => {
    const env = engine(pushCollector() as never);
    const m = await pushed(env);
    await controlShard(env.deps, 't1', 0, 'pause');
    await controlShard(env.deps, 't1', 0, 'resume');
    expect(env.queue.messages).toEqual([]);
    expect(await runShard(env.deps, m, { deadline: FAR })).toBe('completed');
    expect([...env.pages.records.keys()]).toEqual(['a']);
  });
});

describe('secrets', () => {
  it('keeps the values of secret settings out of every stored error and event', async () => {
    const c = {
      ...fakeCollector({
        shards: 1,
        pages: 1,
        onFetch: () => {
          throw httpError(400);
        },
      }),
      secrets: ['key'],
    };
    const failing = {
      ...c,
      async fetchPage() {
        throw new Error('the source said: you sent key=SUPER-SECRET-42');
      },
      settings: { safeParse: (v: unknown) => ({ success: true as const, data: v }) },
    };
    const env = engine(failing as never);
    env.tasks.insertTask({
      ...newTask('t1', { retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }),
      settings: { ok: true, key: 'SUPER-SECRET-42' },
    });
    await planTask(env.deps, { taskId: 't1', attempt: 0 });
    await drain(env);
    const shard = await env.tasks.getShard('t1', 0);
    expect(shard?.state).toBe('FAILED');
    expect(shard?.lastError).toContain('key=***');
    // The settings themselves are kept for the workers (the API shows them redacted).
    const { settings: _, ...task } = (await env.tasks.getTask('t1')) as Task;
    const stored = JSON.stringify([task, await env.tasks.getShards('t1'), env.events.entries]);
    expect(stored).not.toContain('SUPER-SECRET-42');
  });
});

describe('settling a task', () => {
  it('records its end once when two shards end together and both settle it', async () => {
    const env = engine(fakeCollector({ shards: 2, pages: 1 }));
    await started(env);
    // Both shards completed; the task not settled yet (their workers are about to).
    for (const s of env.tasks.shards.values()) Object.assign(s, { state: 'COMPLETED' });
    const states = await Promise.all([settleTask(env.deps, 't1'), settleTask(env.deps, 't1')]);
    expect(states).toEqual(['COMPLETED', 'COMPLETED']);
    expect(env.events.entries.filter((e) => e.type === 'task.completed')).toHaveLength(1);
  });
});

describe('shards that no worker holds', () => {
  it('queues again a RUNNING shard whose message was lost, once it is stalled; its old worker then finds it taken', async () => {
    const env = engine(fakeCollector({ shards: 1, pages: 3 }));
    await started(env);
    const real = env.deps.collectorOf(newTask('x'));
    let unblock: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      unblock = resolve;
    });
    let first = true;
    env.deps.collectorOf = () =>
      ({
        ...real,
        // The first worker hangs in its second fetch; its message is then lost (not requeued).
        fetchPage: async (ctx: never, cursor: never) => {
          if (first && cursor === 1) {
            first = false;
            await blocked;
          }
          return real.fetchPage(ctx, cursor);
        },
      }) as never;
    const msg = env.queue.messages.shift()?.message as ShardMessage;
    const lost = runShard(env.deps, msg, { deadline: FAR });
    await waitUntil(() => !first);
    expect(env.queue.messages).toHaveLength(0);
    // Not stalled yet: it changed a moment ago (its first page).
    expect(await requeueStalledShards(env.deps, 60_000)).toEqual([]);
    env.clock.t += 60_001;
    expect(await requeueStalledShards(env.deps, 60_000)).toEqual(['t1#0']);
    expect(await requeueStalledShards(env.deps, 60_000)).toEqual([]);
    expect((await env.tasks.getShards('t1'))[0]).toMatchObject({ state: 'PENDING', gen: 1, pages: 1 });
    expect(env.events.entries.at(-1)).toMatchObject({ type: 'shard.stalled', level: 'warn' });
    // The new message resumes from the checkpoint and completes the run.
    expect(await drain(env)).toEqual(['completed']);
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
    // The old worker wakes up: its commit finds another epoch, and it writes nothing.
    unblock();
    expect(await lost).toBe('stale');
    expect(env.pages.records.size).toBe(3 * 2);
  });
});

describe('flow limits across workers', () => {
  function withFlow(env: Env, keys = ['tenant:t', 'host:src']) {
    const flow = new MemoryFlowControl(env.clock);
    env.deps.flow = flow;
    env.deps.flowKeys = () => keys;
    return flow;
  }

  it('makes a shard wait, without fetching or spending an attempt, while its key has no free slot', async () => {
    const env = engine(fakeCollector({ shards: 2, pages: 2 }));
    const flow = withFlow(env);
    flow.limits.set('host:src', { concurrency: 1 });
    await started(env);
    // Another task's shard holds the host's only slot.
    expect(await flow.enter(['host:src'], 'other#0', 60_000)).toBeUndefined();
    const first = env.queue.messages.shift();
    expect(await runShard(env.deps, first?.message as never, { deadline: FAR })).toBe('busy');
    expect(env.events.entries.at(-1)).toMatchObject({
      type: 'shard.flow-wait',
      data: { key: 'host:src', reason: 'concurrency', limit: 1 },
    });
    expect((await env.tasks.getShards('t1'))[0]).toMatchObject({ state: 'PENDING', attempts: 0, pages: 0 });
    await flow.leave(['host:src'], 'other#0');
    expect(await drain(env)).toEqual(['completed', 'completed']);
    expect(flow.inUse('host:src')).toBe(0);
    expect(env.pages.records.size).toBe(2 * 2 * 2);
  });

  it('lets a shard finish its page and yield when its limit is lowered under it; it resumes from its cursor', async () => {
    let flow: MemoryFlowControl | undefined;
    const c = fakeCollector({
      shards: 1,
      pages: 3,
      // While page 0 is fetched, the limit drops to 1.
      onFetch: (_s, page) => {
        if (page === 0) flow?.limits.set('tenant:t', { concurrency: 1 });
      },
    });
    const env = engine(c);
    flow = withFlow(env, ['tenant:t']);
    flow.limits.set('tenant:t', { concurrency: 2 });
    await started(env);
    // Another shard holds a slot since before this one: it keeps it; this one yields after page 0.
    expect(await flow.enter(['tenant:t'], 'early#0', 60_000)).toBeUndefined();
    const msg = env.queue.messages.shift();
    env.clock.t += 1;
    expect(await runShard(env.deps, msg?.message as never, { deadline: FAR })).toBe('busy');
    expect((await env.tasks.getShards('t1'))[0]).toMatchObject({ state: 'PENDING', pages: 1, cursor: 1 });
    flow.limits.set('tenant:t', { concurrency: 2 });
    expect(await drain(env)).toEqual(['completed']);
    expect(c.fetches.map(([, p]) => p)).toEqual([0, 1, 2]);
  });

  it("spaces a key's requests at its rate, and frees a dead worker's slot when its lease runs out", async () => {
    const env = engine(fakeCollector({ shards: 1, pages: 4 }));
    const flow = withFlow(env, ['host:src']);
    flow.limits.set('host:src', { ratePerSecond: 2, concurrency: 1 });
    await started(env);
    const times: number[] = [];
    const fetch = env.deps.collectorOf(newTask('x')).fetchPage.bind(env.deps.collectorOf(newTask('x')));
    env.deps.collectorOf = () =>
      ({
        ...fakeCollector({ shards: 1, pages: 4 }),
        fetchPage: async (ctx, cursor) => {
          times.push(env.clock.now());
          return fetch(ctx as never, cursor as never);
        },
      }) as never;
    // A worker died holding the slot: it is free once its lease has run out.
    await flow.enter(['host:src'], 'dead#0', 5_000);
    const msg = env.queue.messages.shift();
    expect(await runShard(env.deps, msg?.message as never, { deadline: FAR })).toBe('busy');
    env.clock.t += 5_000;
    expect(await drain(env)).toEqual(['completed']);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps.every((g) => g >= 500)).toBe(true);
  });

  it("frees a dead worker's slots as soon as its stopped shard's message comes back, not at lease expiry", async () => {
    const env = engine(fakeCollector({ shards: 1, pages: 2 }));
    const flow = withFlow(env, ['host:src']);
    flow.limits.set('host:src', { concurrency: 1 });
    await started(env);
    const real = env.deps.collectorOf(newTask('x'));
    let unblock: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      unblock = resolve;
    });
    // The first worker hangs in its fetch, holding the slot: to the platform it is dead.
    env.deps.collectorOf = () =>
      ({
        ...real,
        fetchPage: async (ctx: never, cursor: never) => {
          await blocked;
          return real.fetchPage(ctx, cursor);
        },
      }) as never;
    const msg = env.queue.messages.shift()?.message as ShardMessage;
    const dead = runShard(env.deps, msg, { deadline: FAR });
    await waitUntil(() => flow.inUse('host:src') === 1);
    expect((await controlTask(env.deps, 't1', 'stop')).requested).toBe('STOP');
    // Its message comes back (the worker's connection died): the shard stops, the slot is free.
    env.deps.collectorOf = () => real;
    expect(await runShard(env.deps, msg, { deadline: FAR })).toBe('stopped');
    expect(flow.inUse('host:src')).toBe(0);
    expect((await env.tasks.getTask('t1'))?.state).toBe('STOPPED');
    unblock();
    expect(await dead).toBe('stale');
  });

  it("halves the source host's rate on a 429 for every worker, and gives it back page by page", async () => {
    let failed = false;
    const c = fakeCollector({
      shards: 1,
      pages: 4,
      onFetch: () => {
        if (!failed) {
          failed = true;
          throw httpError(429, 100);
        }
      },
    });
    const env = engine(c);
    const flow = withFlow(env, ['tenant:t', 'host:src']);
    await started(env);
    expect(await drain(env)).toEqual(['retrying', 'completed']);
    // 10 (the default start) halved to 5, then +0.5 for each of the 4 pages answered.
    expect(flow.adapted.get('host:src')).toBe(7);
    expect(flow.adapted.has('tenant:t')).toBe(false);
  });
});

describe('a circuit breaker per source host', () => {
  it('parks the shards while the host keeps failing, lets one probe through after the cool-down, and resumes them all when it succeeds', async () => {
    let calls = 0;
    const c = fakeCollector({
      shards: 3,
      pages: 2,
      onFetch: () => {
        calls += 1;
        if (calls <= 3) throw httpError(503);
      },
    });
    const env = engine(c);
    const breakers = new MemoryBreakers(env.clock, { threshold: 3, coolDownMs: 10_000 });
    env.deps.breakers = breakers;
    env.deps.flowKeys = () => ['tenant:t', 'host:src'];
    await started(env);
    const t0 = env.clock.now();
    const outcomes = await drain(env);
    // Three failures open it; the shard whose failure did is the probe, the others park.
    expect(outcomes.slice(0, 3)).toEqual(['retrying', 'retrying', 'retrying']);
    expect(outcomes).toContain('paused');
    expect((await env.tasks.getTask('t1'))?.state).toBe('COMPLETED');
    const shards = await env.tasks.getShards('t1');
    expect(shards.map((s) => [s.state, s.records])).toEqual([
      ['COMPLETED', 4],
      ['COMPLETED', 4],
      ['COMPLETED', 4],
    ]);
    // The parked shards spent no attempt on the open breaker, and the probe waited the cool-down.
    expect(shards.every((s) => s.attempts <= 1)).toBe(true);
    expect(env.clock.now() - t0).toBeGreaterThanOrEqual(10_000);
    const parked = env.events.entries.filter((e) => e.type === 'shard.breaker-open');
    expect(parked.length).toBeGreaterThanOrEqual(1);
    expect(parked[0]?.message).toMatch(/^BREAKER_OPEN: host:src/);
    expect(await breakers.view('host:src')).toMatchObject({ state: 'CLOSED', parked: 0 });
  });

  it('opens again when the probe fails, and never parks a shard of another host', async () => {
    const c = fakeCollector({
      shards: 1,
      pages: 1,
      onFetch: () => {
        throw httpError(503);
      },
    });
    const env = engine(c);
    const breakers = new MemoryBreakers(env.clock, { threshold: 1, coolDownMs: 5_000 });
    env.deps.breakers = breakers;
    env.deps.flowKeys = () => ['host:src'];
    await started(env);
    const first = env.queue.messages.shift();
    expect(await runShard(env.deps, first?.message as never, { deadline: FAR })).toBe('retrying');
    expect(await breakers.view('host:src')).toMatchObject({ state: 'OPEN' });
    const probe = env.queue.messages.shift();
    env.clock.t = Math.max(env.clock.t, probe?.message.notBefore ?? 0);
    expect(await runShard(env.deps, probe?.message as never, { deadline: FAR })).toBe('retrying');
    expect(await breakers.view('host:src')).toMatchObject({ state: 'OPEN' });
    expect(await breakers.admit('host:other', 'x#0')).toBe('go');
  });
});
