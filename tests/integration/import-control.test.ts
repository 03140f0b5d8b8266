import { HttpError } from '@collect/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChunk } from '../../functions/collect/src/app/apply-chunk';
import { recordDeadShards } from '../../functions/collect/src/app/dead-shards';
import { addPart, commitImport, openImport } from '../../functions/collect/src/app/import-parts';
import { readTask } from '../../functions/collect/src/app/read-task';
import { controlRun, controlRunShard, taskLogs } from '../../functions/collect/src/app/runs';
import { submitImport } from '../../functions/collect/src/app/submit-import';
import { deadEvent } from '../support/dead-event';
import { liveTree } from '../support/stores';
import { createTestEnv, decodeImportMessage, type TestEnv, takeShardMessages } from '../support/test-env';
import { flatten, sampleTree } from '../support/tree-fixtures';

let env: TestEnv;
const tenant = 'default';

beforeAll(async () => {
  env = await createTestEnv({ IMPORT_CHUNK_SIZE: '3' });
});
afterAll(async () => {
  await env?.close();
});

/** Runs every message waiting on the import queue, as the consumer does. */
async function drain(): Promise<string[]> {
  const outcomes: string[] = [];
  for (;;) {
    const messages = await takeShardMessages(env);
    if (messages.length === 0) return outcomes;
    for (const m of messages) outcomes.push(await applyChunk(env.services, decodeImportMessage(m)));
  }
}

const view = (id: string) =>
  readTask(env.services, tenant, id) as Promise<Record<string, unknown> & { state: string }>;

describe('control of an import task (it runs on the engine)', () => {
  it('pauses an import whose chunks wait in the queue, writes nothing while paused, and resumes it exact', async () => {
    const source = 'imp-pause';
    const { taskId } = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() });
    const paused = await controlRun(env.services, tenant, taskId, 'pause');
    expect(paused.state).toBe('PAUSED');
    // The queued chunks arrive while paused: each is kept by its shard, nothing is written.
    expect(new Set(await drain())).toEqual(new Set(['skipped']));
    expect(await liveTree(env.db, source)).toEqual([]);
    expect((await view(taskId)).state).toBe('PAUSED');
    const resumed = await controlRun(env.services, tenant, taskId, 'resume');
    expect(resumed.state).toBe('RUNNING');
    expect(new Set(await drain())).toEqual(new Set(['completed']));
    expect((await view(taskId)).state).toBe('COMPLETED');
    expect(await liveTree(env.db, source)).toEqual(flatten(sampleTree()).sort());
    const logs = await taskLogs(env.services, tenant, taskId, { limit: 1000 });
    const types = logs.items.map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['task.pause', 'shard.skipped', 'task.resume', 'shard.page']),
    );
  });

  it('lets the queued chunks of a shard resumed before they arrived run it, once', async () => {
    const source = 'imp-shard';
    const { taskId } = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() });
    await controlRunShard(env.services, tenant, taskId, 's1', 'pause');
    await controlRunShard(env.services, tenant, taskId, 's1', 'resume');
    expect(await drain()).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect((await view(taskId)).state).toBe('COMPLETED');
    expect(await liveTree(env.db, source)).toEqual(flatten(sampleTree()).sort());
  });

  it('stops an import: final, nothing deleted, the source free for the next import', async () => {
    const source = 'imp-stop';
    const first = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() });
    await drain();
    const before = await liveTree(env.db, source);
    const { taskId } = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: [] as never });
    expect((await controlRun(env.services, tenant, taskId, 'stop')).state).toBe('STOPPED');
    await drain();
    expect(await liveTree(env.db, source)).toEqual(before);
    await expect(controlRun(env.services, tenant, taskId, 'resume')).rejects.toMatchObject({
      status: 409,
      code: 'ILLEGAL_TRANSITION',
      details: { state: 'STOPPED' },
    });
    const next = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() });
    await drain();
    expect((await view(next.taskId)).state).toBe('COMPLETED');
    expect(first.taskId).not.toBe(next.taskId);
  });

  it('retries a chunk that was dead-lettered from the chunk its shard kept', async () => {
    const source = 'imp-retry';
    const { taskId } = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() });
    const [lost, ...rest] = await takeShardMessages(env);
    for (const m of rest) await applyChunk(env.services, decodeImportMessage(m));
    expect(await recordDeadShards(env.services, deadEvent(lost as never), 'import-chunk')).toBe(1);
    await takeShardMessages(env); // the parked copy is not needed: the shard kept its chunk
    expect(await view(taskId)).toMatchObject({ state: 'PARTIALLY_COMPLETED', progress: { failedShards: 1 } });
    // The applied chunks are in the tree and kept nowhere else: they cannot run again.
    await expect(
      controlRun(env.services, tenant, taskId, 'retry', { scope: 'SHARDS', shardNos: [1] }),
    ).rejects.toMatchObject({ status: 409 });
    // ALL runs again what can run again: the kept chunk.
    const retried = await controlRun(env.services, tenant, taskId, 'retry', { scope: 'ALL' });
    expect(retried.state).toBe('RUNNING');
    expect(retried.shards.map((s) => s.shardId)).toEqual(['s0']);
    expect(await drain()).toEqual(['completed']);
    expect((await view(taskId)).state).toBe('COMPLETED');
    expect(await liveTree(env.db, source)).toEqual(flatten(sampleTree()).sort());
  });

  it('keeps the parts sent to a paused import in parts, and applies them once it is resumed', async () => {
    const source = 'imp-parts';
    const { taskId } = await openImport(env.services, tenant, source);
    expect((await controlRun(env.services, tenant, taskId, 'pause')).state).toBe('PAUSED');
    await addPart(env.services, tenant, taskId, [{ ...sampleTree(), parentId: null }]);
    expect(new Set(await drain())).toEqual(new Set(['skipped']));
    expect(await liveTree(env.db, source)).toEqual([]);
    expect((await controlRun(env.services, tenant, taskId, 'resume')).state).toBe('RUNNING');
    expect(new Set(await drain())).toEqual(new Set(['completed']));
    await commitImport(env.services, tenant, taskId);
    expect((await view(taskId)).state).toBe('COMPLETED');
    expect(await liveTree(env.db, source)).toEqual(flatten(sampleTree()).sort());
  });

  it('pauses an import in parts that is running: PAUSED once none of its chunks runs, before the commit', async () => {
    const source = 'imp-parts-running';
    const { taskId } = await openImport(env.services, tenant, source);
    const tree = sampleTree();
    const [a, b] = tree.children ?? [];
    await addPart(env.services, tenant, taskId, [{ ...tree, children: [a], parentId: null }]);
    const [first, ...queued] = await takeShardMessages(env);
    expect(await applyChunk(env.services, decodeImportMessage(first as never))).toBe('completed');
    expect((await view(taskId)).state).toBe('RUNNING');
    expect((await controlRun(env.services, tenant, taskId, 'pause')).state).toBe('PAUSED');
    for (const m of queued) expect(await applyChunk(env.services, decodeImportMessage(m))).toBe('skipped');
    await addPart(env.services, tenant, taskId, [{ ...b, parentId: 'root' }]);
    expect(new Set(await drain())).toEqual(new Set(['skipped']));
    expect((await controlRun(env.services, tenant, taskId, 'resume')).state).toBe('RUNNING');
    await drain();
    await commitImport(env.services, tenant, taskId);
    expect((await view(taskId)).state).toBe('COMPLETED');
    expect(await liveTree(env.db, source)).toEqual(flatten({ ...tree, children: [a, b] } as never).sort());
  });

  it('stops an import taking parts before its commit: STOPPED, no more parts, the source free', async () => {
    const source = 'imp-parts-stop';
    const { taskId } = await openImport(env.services, tenant, source);
    await addPart(env.services, tenant, taskId, [{ ...sampleTree(), parentId: null }]);
    const [first] = await takeShardMessages(env);
    await applyChunk(env.services, decodeImportMessage(first as never));
    expect((await controlRun(env.services, tenant, taskId, 'stop')).state).toBe('STOPPED');
    await expect(
      addPart(env.services, tenant, taskId, [{ id: 'late', type: 'CASE', name: 'Late', parentId: null }]),
    ).rejects.toMatchObject({ status: 409 });
    await expect(commitImport(env.services, tenant, taskId)).rejects.toMatchObject({ status: 409 });
    const next = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() });
    await drain();
    expect((await view(next.taskId)).state).toBe('COMPLETED');
  });

  it('answers 409 with the state for a control that does not apply, and 404 for an unknown shard', async () => {
    const source = 'imp-409';
    const { taskId } = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() });
    await drain();
    await expect(controlRun(env.services, tenant, taskId, 'pause')).rejects.toMatchObject({
      status: 409,
      details: { state: 'COMPLETED' },
    });
    await expect(controlRunShard(env.services, tenant, taskId, 's99', 'pause')).rejects.toBeInstanceOf(
      HttpError,
    );
  });
});
