import { topology } from '@collect/common';
import amqp from 'amqplib';
import { MongoClient } from 'mongodb';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planFull } from '../../functions/collect/src/app/plan-import';
import { chunkNodes } from '../../functions/collect/src/app/submit-import';
import type { ImportChunkMessage } from '../../functions/collect/src/schemas';
import { Stack } from '../support/stack';
import { dir, flatten, type InNode, kase } from '../support/tree-fixtures';
import { waitFor } from '../support/wait';

const CHUNK = 20;
const stack = new Stack(3110, { IMPORT_CHUNK_SIZE: String(CHUNK), BRIDGE_RETRY_DELAY_MS: '200' });

beforeAll(async () => {
  await stack.start();
});
afterAll(async () => {
  await stack.stop();
});

/** A tree of `dirs` directories with `perDir` cases each, under one root. */
function bigTree(dirs: number, perDir: number): InNode {
  return dir(
    'root',
    'Root',
    Array.from({ length: dirs }, (_, d) =>
      dir(
        `d${d}`,
        `Directory ${d}`,
        Array.from({ length: perDir }, (_, c) =>
          kase(`d${d}-c${c}`, `Case ${d}.${c}`, `steps of ${d}.${c} `.repeat(20)),
        ),
      ),
    ),
  );
}

async function storeState(source: string) {
  const db = await mysql.createConnection({ uri: stack.env.MYSQL_URL });
  const mongo = await new MongoClient(stack.env.MONGO_URL as string).connect();
  try {
    const [dirs] = await db.query<RowDataPacket[]>(
      'SELECT * FROM test_directory WHERE source = ? ORDER BY id',
      [source],
    );
    const [cases] = await db.query<RowDataPacket[]>('SELECT * FROM test_case WHERE source = ? ORDER BY id', [
      source,
    ]);
    const docs = await mongo.db().collection('case_detail').find({ source }).sort({ _id: 1 }).toArray();
    return { dirs, cases, docs };
  } finally {
    await db.end();
    await mongo.close();
  }
}

describe('at-least-once delivery', () => {
  it('changes nothing when chunk messages are delivered a second time', async () => {
    const source = 'dup';
    const tree = bigTree(3, 10);
    const res = await stack.request('POST', '/api/testcase/import', { source, mode: 'FULL', tree });
    const task = await stack.settledTask(res.body.taskId);
    expect(task.state).toBe('COMPLETED');
    const before = await storeState(source);

    // The same messages the platform published (planning is deterministic), sent again.
    const messages: ImportChunkMessage[] = [
      ...chunkNodes(planFull(tree, { maxNodes: 1000, maxDepth: 10 }).upserts, CHUNK),
    ].map(({ nodes: upserts }, shardNo) => ({
      taskId: task.id,
      shardNo,
      tenantId: 'default',
      source,
      mode: 'FULL',
      version: task.treeVersion,
      upserts,
      deletes: [],
    }));
    expect(messages).toHaveLength(task.progress.totalShards);
    const conn = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
    const ch = await conn.createConfirmChannel();
    for (const m of messages)
      ch.publish(
        topology(stack.env.AMQP_PREFIX as string).exchange,
        'import-chunk',
        Buffer.from(JSON.stringify(m)),
        { persistent: true },
      );
    await ch.waitForConfirms();
    await conn.close();
    // Every duplicate is logged as skipped: that is how we know each was processed.
    await waitFor('the duplicates to be consumed', async () => {
      const logs = (await stack.request('GET', `/api/tasks/${task.id}/logs?limit=1000`)).body;
      const skipped = logs.items.filter((e: { type?: string }) => e.type === 'shard.skipped');
      return skipped.length >= messages.length ? true : undefined;
    });

    expect(await storeState(source)).toEqual(before);
    const after = (await stack.request('GET', `/api/tasks/${task.id}`)).body;
    expect(after.progress).toEqual(task.progress);
    expect(after.shards.map((s: { attempts: number }) => s.attempts)).toEqual(
      task.shards.map((s: { attempts: number }) => s.attempts),
    );
  });
});

describe('a crash in the middle of an import', () => {
  it('still completes with exactly the input when the worker and the bridge are killed', async () => {
    const source = 'crash';
    const tree = bigTree(20, 40); // 821 nodes, 42 shards
    const res = await stack.request('POST', '/api/testcase/import', { source, mode: 'FULL', tree });
    expect(res.status).toBe(202);
    const taskId = res.body.taskId;
    await waitFor('some shards to complete', async () => {
      const t = (await stack.request('GET', `/api/tasks/${taskId}`)).body;
      return t.progress.doneShards >= 3 ? true : undefined;
    });
    await stack.kill('workers'); // the function process dies with invocations in flight
    await stack.kill('bridge'); // and the consumer dies with unacked messages
    const db = await mysql.createConnection({ uri: stack.env.MYSQL_URL });
    const [[atCrash]] = await db.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS done FROM collect_shard WHERE task_id = ? AND state = 'COMPLETED'",
      [taskId],
    );
    await db.end();
    expect(Number(atCrash?.done), 'the crash must come before the end of the import').toBeLessThan(42);
    await stack.startPart('workers');
    await stack.startPart('bridge');

    const task = await stack.settledTask(taskId, 240_000);
    expect(task.state, JSON.stringify(task)).toBe('COMPLETED');
    expect(task.progress).toMatchObject({ totalNodes: 821, doneNodes: 821, failedNodes: 0, doneShards: 42 });

    const state = await storeState(source);
    const live = [
      ...state.dirs
        .filter((r) => r.deleted === 0)
        .map((r) => [r.id, r.parent_id, 'DIRECTORY', r.name, r.position]),
      ...state.cases
        .filter((r) => r.deleted === 0)
        .map((r) => [r.id, r.directory_id, 'CASE', r.name, r.position]),
    ];
    expect(live.sort()).toEqual(flatten(tree).sort());
    expect(state.dirs.length + state.cases.length).toBe(821);
    const conn = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
    const ch = await conn.createChannel();
    const dead = await ch.checkQueue(topology(stack.env.AMQP_PREFIX as string).deadQueue('import-chunk'));
    await conn.close();
    expect(dead.messageCount).toBe(0);
    expect(state.docs.map((d) => d.caseId).sort()).toEqual(
      flatten(tree)
        .filter((n) => n[2] === 'CASE')
        .map((n) => n[0])
        .sort(),
    );
  });

  it('completes with exactly the input when only the function process dies and comes back', async () => {
    const source = 'crash-offline';
    const tree = bigTree(10, 40); // 411 nodes, 21 shards
    const res = await stack.request('POST', '/api/testcase/import', { source, mode: 'FULL', tree });
    expect(res.status).toBe(202);
    await waitFor('some shards to complete', async () => {
      const t = (await stack.request('GET', `/api/tasks/${res.body.taskId}`)).body;
      return t.progress.doneShards >= 2 ? true : undefined;
    });
    // The bridge keeps running: it must hold its messages while the Lambda API is gone, not
    // spend their deliveries on connection errors.
    await stack.kill('workers');
    await stack.startPart('workers');
    const task = await stack.settledTask(res.body.taskId, 240_000);
    expect(task.state, JSON.stringify(task)).toBe('COMPLETED');
    expect(task.progress).toMatchObject({ totalNodes: 411, doneNodes: 411, failedNodes: 0, doneShards: 21 });
    const state = await storeState(source);
    expect(state.dirs.length + state.cases.length).toBe(411);
    expect(state.docs).toHaveLength(400);
  });
});
