import amqp from 'amqplib';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeTestRail } from '../support/fake-testrail';
import { Stack } from '../support/stack';
import { liveTree } from '../support/stores';
import { dir, flatten, kase } from '../support/tree-fixtures';
import { waitFor } from '../support/wait';

/*
 * Scale-out: two worker processes (each a serverless-offline with its own bridge) share one
 * broker. One of them is killed (SIGKILL, its bridge with it) in the middle of an import and a
 * TestRail collection; the other finishes both, exactly.
 */
const stack = new Stack(3600, { IMPORT_CHUNK_SIZE: '20', BRIDGE_RETRY_DELAY_MS: '200' }, { workers: 2 });
const tr = new FakeTestRail();

beforeAll(async () => {
  await tr.start();
  await stack.start();
});
afterAll(async () => {
  await stack.stop();
  await tr.stop();
});

async function consumers(queues: string[]): Promise<number[]> {
  const conn = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  try {
    const ch = await conn.createChannel();
    const out = [];
    for (const q of queues) out.push((await ch.checkQueue(`${stack.env.AMQP_PREFIX}.${q}`)).consumerCount);
    return out;
  } finally {
    await conn.close();
  }
}

describe('two worker processes on one broker', () => {
  it('both consume every queue; when one is killed mid-run the other completes the runs exactly', async () => {
    const queues = ['import-chunk', 'plan', 'testrail@1.p0', 'testrail@1.p1', 'testrail@2'];
    expect(await consumers(queues)).toEqual([2, 2, 2, 2, 2]);

    for (let i = 0; i < 4; i += 1) {
      const s = tr.addSection(`Section ${i}`);
      for (let k = 0; k < 25; k += 1) tr.addCase(s, `Case ${i}.${k}`);
    }
    tr.latencyMs = 30;
    const tree = dir(
      'root',
      'Root',
      Array.from({ length: 30 }, (_, d) =>
        dir(
          `d${d}`,
          `Dir ${d}`,
          Array.from({ length: 30 }, (_, c) => kase(`d${d}-c${c}`, `Case ${d}.${c}`)),
        ),
      ),
    );
    const imported = await stack.request('POST', '/api/testcase/import', {
      source: 'scale',
      mode: 'FULL',
      tree,
    });
    expect(imported.status).toBe(202);
    const collected = await stack.request(
      'POST',
      '/api/tasks',
      tr.run('scale-tr', { shards: 4, pageSize: 5 }),
    );
    expect(collected.status, JSON.stringify(collected.body)).toBe(202);

    const atKill = await waitFor('the import to be under way', async () => {
      const t = (await stack.request('GET', `/api/tasks/${imported.body.taskId}`)).body;
      return t.progress?.doneShards >= 3 ? t.progress : undefined;
    });
    await Promise.all([stack.kill('workers2'), stack.kill('bridge2')]);
    expect(atKill.doneShards, 'the kill must come before the end of the import').toBeLessThan(
      atKill.totalShards,
    );
    // The killed process's connections are gone: one consumer per queue is left.
    await waitFor('the killed bridge to leave the broker', async () =>
      (await consumers(queues)).every((n) => n === 1) ? true : undefined,
    );

    const importTask = await stack.settledTask(imported.body.taskId, 240_000);
    expect(importTask.state, JSON.stringify(importTask)).toBe('COMPLETED');
    const total = 1 + 30 * 31;
    expect(importTask.progress).toMatchObject({ totalNodes: total, doneNodes: total, failedNodes: 0 });
    const collectTask = await stack.settledTask(collected.body.taskId, 240_000);
    expect(collectTask.state, JSON.stringify(collectTask)).toBe('COMPLETED');
    expect(collectTask.progress.records).toBe(100);

    const db = await mysql.createConnection({ uri: stack.env.MYSQL_URL });
    try {
      expect(await liveTree(db, 'scale')).toEqual(flatten(tree).sort());
      const cases = (await liveTree(db, 'scale-tr')).filter(([, , type]) => type === 'CASE');
      expect(cases).toHaveLength(100);
      expect(new Set(cases.map(([id]) => id)).size).toBe(100);
    } finally {
      await db.end();
    }
  });
});

describe('the bridge as a serverless-offline plugin', () => {
  const single = new Stack(3650, { IMPORT_CHUNK_SIZE: '20' }, { bridgeInOffline: true });
  afterAll(() => single.stop());

  it('runs the rabbitmq events inside `serverless offline start` with OFFLINE_RABBITMQ=true', async () => {
    await single.start();
    const tree = dir('root', 'Root', [dir('a', 'A', [kase('a1', 'One'), kase('a2', 'Two')]), kase('b', 'B')]);
    const res = await single.request('POST', '/api/testcase/import', {
      source: 'plugin',
      mode: 'FULL',
      tree,
    });
    expect(res.status).toBe(202);
    const task = await single.settledTask(res.body.taskId);
    expect(task.state).toBe('COMPLETED');
    expect(single.partLog('offline')).toMatch(/\[bridge\] consuming: .*collect-dev-importChunk/);
  });
});
