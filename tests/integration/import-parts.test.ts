import { GZIP, HttpError } from '@collect/common';
import { controlTask } from '@collect/core';
import type { ConfirmChannel } from 'amqplib';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChunk } from '../../functions/collect/src/app/apply-chunk';
import {
  addPart,
  cancelImport,
  commitImport,
  expireIdleImports,
  openImport,
} from '../../functions/collect/src/app/import-parts';
import { readTask } from '../../functions/collect/src/app/read-task';
import { submitImport } from '../../functions/collect/src/app/submit-import';
import type { ImportChunkMessage } from '../../functions/collect/src/schemas';
import { liveTree } from '../support/stores';
import { createTestEnv, decodeShard, type TestEnv, takeShardMessages } from '../support/test-env';
import { dir, flatten, kase, sampleTree } from '../support/tree-fixtures';
import { waitFor } from '../support/wait';

let env: TestEnv;
const tenant = 'default';

beforeAll(async () => {
  // Every shard message gzipped, however small, so the decoding path is taken here too.
  env = await createTestEnv({
    IMPORT_CHUNK_SIZE: '2',
    AMQP_GZIP_MIN_BYTES: '1',
    IMPORT_ENQUEUE_TIMEOUT_SECONDS: '1',
  });
});
afterAll(async () => {
  await env?.close();
});

async function drain(): Promise<ImportChunkMessage[]> {
  const out: ImportChunkMessage[] = [];
  for (const m of await takeShardMessages(env)) {
    expect(m.properties.contentEncoding).toBe(GZIP);
    const msg = decodeShard(m);
    await applyChunk(env.services, msg);
    out.push(msg);
  }
  return out;
}

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
}

describe('a FULL import sent in parts', () => {
  it('builds the tree from parent-first parts and settles only after the commit', async () => {
    const source = 'parts';
    await submitImport(env.services, tenant, {
      source,
      mode: 'FULL',
      tree: dir('old', 'Old tree', [kase('gone', 'Gone')]),
    });
    await drain();

    const { taskId } = await openImport(env.services, tenant, source);
    await addPart(env.services, tenant, taskId, [
      { ...dir('root', 'Root 🌳', [dir('a', 'Alpha')]), parentId: null },
    ]);
    await drain();
    await addPart(env.services, tenant, taskId, [
      { ...kase('a1', 'Alpha one'), parentId: 'a' },
      { ...kase('a2', 'Alpha two'), parentId: 'a' },
      { ...dir('b', 'Beta', [kase('b1', 'Beta one')]), parentId: 'root' },
    ]);
    await drain();
    // Every shard is done, but more parts could come: the task must not settle yet.
    expect((await env.services.tasks.get(taskId))?.state).toBe('RUNNING');

    await commitImport(env.services, tenant, taskId);
    const task = await env.services.tasks.get(taskId);
    expect(task).toMatchObject({ state: 'COMPLETED', totalNodes: 6, doneNodes: 6, deletedNodes: 2 });
    const expected = dir('root', 'Root 🌳', [
      dir('a', 'Alpha', [kase('a1', 'Alpha one'), kase('a2', 'Alpha two')]),
      dir('b', 'Beta', [kase('b1', 'Beta one')]),
    ]);
    expect(await liveTree(env.db, source)).toEqual(flatten(expected).sort());
    const [staged] = await env.db.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM import_node WHERE task_id = ?',
      [taskId],
    );
    expect(Number(staged[0]?.n)).toBe(0);
  });

  it('rejects a part with a duplicate of an earlier id or an unknown parent, writing nothing', async () => {
    const { taskId } = await openImport(env.services, tenant, 'parts-bad');
    await addPart(env.services, tenant, taskId, [{ ...sampleTree(), parentId: null }]);
    await drain();
    const before = await env.services.tasks.get(taskId);
    expect(
      await status(addPart(env.services, tenant, taskId, [{ ...kase('a1', 'again'), parentId: 'a' }])),
    ).toBe(400);
    expect(
      await status(addPart(env.services, tenant, taskId, [{ ...kase('new', 'n'), parentId: 'no-such' }])),
    ).toBe(400);
    expect(
      await status(addPart(env.services, tenant, taskId, [{ ...kase('new', 'n'), parentId: 'a1' }])),
    ).toBe(400);
    expect(await env.services.tasks.get(taskId)).toEqual(before);
    expect(await drain()).toEqual([]);
  });

  it('answers 404 for an unknown import, 409 for a part after the commit, and a commit sent again with the same success', async () => {
    expect(
      await status(addPart(env.services, tenant, '00000000-0000-0000-0000-000000000000', [kase('x', 'x')])),
    ).toBe(404);
    const { taskId } = await openImport(env.services, tenant, 'parts-closed');
    expect(
      await status(addPart(env.services, 'other-tenant', taskId, [{ ...kase('x', 'x'), parentId: null }])),
    ).toBe(404);
    const committed = await commitImport(env.services, tenant, taskId);
    expect((await env.services.tasks.get(taskId))?.state).toBe('COMPLETED');
    expect(await status(addPart(env.services, tenant, taskId, [{ ...kase('x', 'x'), parentId: null }]))).toBe(
      409,
    );
    // Its answer lost, the client commits again: the same success, nothing done twice.
    expect(await commitImport(env.services, tenant, taskId)).toEqual(committed);
    expect(await status(commitImport(env.services, 'other-tenant', taskId))).toBe(404);
    // An import stopped before its commit cannot be committed.
    const stopped = await openImport(env.services, tenant, 'parts-stopped');
    await controlTask(env.services.engine, stopped.taskId, 'stop');
    expect(await status(commitImport(env.services, tenant, stopped.taskId))).toBe(409);
  });

  it('lets one import of a source run at a time, answering 409 with the one in progress', async () => {
    const source = 'parts-one-at-a-time';
    const { taskId } = await openImport(env.services, tenant, source);
    let conflict: HttpError | undefined;
    try {
      await submitImport(env.services, tenant, { source, mode: 'FULL', tree: kase('x', 'x') });
    } catch (err) {
      if (err instanceof HttpError) conflict = err;
    }
    expect(conflict?.status).toBe(409);
    expect(conflict?.details).toEqual({ taskId, state: 'CREATED' });
    expect(await status(openImport(env.services, tenant, source))).toBe(409);
    // Another source is not held.
    expect(await status(openImport(env.services, tenant, `${source}-other`))).toBe(0);
    await commitImport(env.services, tenant, taskId);
    await submitImport(env.services, tenant, { source, mode: 'FULL', tree: kase('x', 'x') });
    await drain();
  });

  it('lets a new import take over a source whose import made no progress for too long', async () => {
    const source = 'parts-abandoned';
    const { taskId } = await openImport(env.services, tenant, source);
    // As if its last progress was long ago (no sleeping): older than IMPORT_STALE_SECONDS.
    await env.db.query('UPDATE collect_task SET updated_at = NOW(3) - INTERVAL 1 DAY WHERE id = ?', [taskId]);
    const next = await openImport(env.services, tenant, source);
    const abandoned = await env.services.tasks.get(taskId);
    expect(abandoned?.state).toBe('FAILED');
    expect(abandoned?.lastError).toContain(next.taskId);
    expect(await status(addPart(env.services, tenant, taskId, [{ ...kase('x', 'x'), parentId: null }]))).toBe(
      409,
    );
    await commitImport(env.services, tenant, next.taskId);
  });

  it('cancels an open import at once: its parts discarded, the published tree unchanged, the source free', async () => {
    const source = 'parts-cancel';
    await submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() });
    await drain();
    const published = await liveTree(env.db, source);
    const { taskId } = await openImport(env.services, tenant, source);
    await addPart(env.services, tenant, taskId, [
      { ...dir('new', 'New', [kase('n1', 'New one')]), parentId: null },
    ]);
    await drain();
    const version = (await env.services.tasks.get(taskId))?.treeVersion;
    const written = async () => {
      const [r] = await env.db.query<RowDataPacket[]>(
        `SELECT (SELECT COUNT(*) FROM test_directory WHERE source = ? AND (valid_from = ? OR valid_to = ?))
              + (SELECT COUNT(*) FROM test_case WHERE source = ? AND (valid_from = ? OR valid_to = ?)) AS n`,
        [source, version, version, source, version, version],
      );
      return Number(r[0]?.n);
    };
    expect(await written()).toBeGreaterThan(0);

    const cancelled = await cancelImport(env.services, tenant, taskId);
    expect(cancelled).toEqual({ taskId, state: 'STOPPED', cancelled: true });
    expect(await written()).toBe(0);
    expect(await liveTree(env.db, source)).toEqual(published);
    expect(await env.mongo.collection('case_detail').countDocuments({ source, caseId: 'n1' })).toBe(1);
    await env.services.retention.sweep(); // the documents of the discarded version go too
    expect(await env.mongo.collection('case_detail').countDocuments({ source, caseId: 'n1' })).toBe(0);
    // Again: the same answer. A part or a commit after it: 409.
    expect(await cancelImport(env.services, tenant, taskId)).toEqual(cancelled);
    expect(await status(commitImport(env.services, tenant, taskId))).toBe(409);
    expect(await status(addPart(env.services, tenant, taskId, [{ ...kase('x', 'x'), parentId: null }]))).toBe(
      409,
    );
    // The source is free at once.
    const next = await openImport(env.services, tenant, source);
    await commitImport(env.services, tenant, next.taskId);
    // Unknown, another tenant's, or committed: 404, 404, 409.
    expect(await status(cancelImport(env.services, tenant, crypto.randomUUID()))).toBe(404);
    expect(await status(cancelImport(env.services, 'other-tenant', next.taskId))).toBe(404);
    await expect(cancelImport(env.services, tenant, next.taskId)).rejects.toMatchObject({
      status: 409,
      details: { committed: true },
    });
  });

  it('cancels an import whose shard is in the middle of a page: that page writes nothing, a cancel sent again answers the same', async () => {
    const source = 'parts-cancel-running';
    const { taskId } = await openImport(env.services, tenant, source);
    await addPart(env.services, tenant, taskId, [{ ...kase('r1', 'Running one'), parentId: null }]);
    const [message] = (await takeShardMessages(env)).map(decodeShard);
    // A worker holds shard 0 (its claim: a new epoch, RUNNING) when the cancel comes.
    await env.db.query("UPDATE collect_shard SET state = 'RUNNING', epoch = epoch + 1 WHERE task_id = ?", [
      taskId,
    ]);
    const [[held]] = (await env.db.query('SELECT epoch FROM collect_shard WHERE task_id = ?', [
      taskId,
    ])) as never as [{ epoch: number }[]];
    const cancelled = await cancelImport(env.services, tenant, taskId);
    expect(cancelled).toEqual({ taskId, state: 'RUNNING', requested: 'STOP', cancelled: true });
    expect(await cancelImport(env.services, tenant, taskId)).toEqual(cancelled);
    // The worker's page reaches its commit: refused (the run no longer holds its source).
    const task = await env.services.engine.tasks.getTask(taskId);
    const page = [{ upserts: message?.upserts ?? [], deletes: [] }];
    await env.services.engine.pages.prepare(task as never, page);
    expect(
      await env.services.engine.pages.commit(task as never, { shardNo: 0, epoch: held?.epoch ?? 0 }, page, {
        cursor: null,
        done: true,
        pages: 1,
        records: 1,
        failedRecords: 0,
      }),
    ).toEqual({ owned: true, halted: true });
    expect(await liveTree(env.db, source)).toEqual([]);
    const [rows] = await env.db.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM test_case WHERE source = ?',
      [source],
    );
    expect(Number(rows[0]?.n)).toBe(0);
  });

  it('expires an open import with no part for IMPORT_STALE_SECONDS, and frees its source', async () => {
    const source = 'parts-idle';
    const { taskId } = await openImport(env.services, tenant, source);
    await addPart(env.services, tenant, taskId, [{ ...kase('idle', 'Idle'), parentId: null }]);
    await drain();
    expect(await expireIdleImports(env.services)).not.toContain(taskId);
    // As if its last part was long ago (no sleeping).
    await env.db.query('UPDATE collect_task SET updated_at = NOW(3) - INTERVAL 1 DAY WHERE id = ?', [taskId]);
    await env.db.query('UPDATE collect_shard SET updated_at = NOW(3) - INTERVAL 1 DAY WHERE task_id = ?', [
      taskId,
    ]);
    expect(await expireIdleImports(env.services)).toContain(taskId);
    expect(await env.services.tasks.get(taskId)).toMatchObject({
      state: 'STOPPED',
      lastError: expect.stringMatching(/^expired: no part for \d+ s$/),
    });
    const next = await openImport(env.services, tenant, source);
    await commitImport(env.services, tenant, next.taskId);
  });

  it('fails an import whose part was lost with the API, so the client opens a new one', async () => {
    const source = 'parts-lost';
    const { taskId } = await openImport(env.services, tenant, source);
    await addPart(env.services, tenant, taskId, [{ ...dir('root', 'Root'), parentId: null }]);
    await drain();
    // The API "dies" after recording part 2 and before RabbitMQ confirms it: its channel still
    // answers the queue-depth check, but nothing it publishes is ever sent or confirmed.
    const real = await env.services.channel();
    const silent = {
      checkQueue: (queue: string) => real.checkQueue(queue),
      publish: () => true,
      on: () => silent,
      off: () => silent,
      once: () => silent,
    } as unknown as ConfirmChannel;
    const dying = { ...env.services, channel: async () => silent };
    void addPart(dying, tenant, taskId, [{ ...kase('c1', 'One'), parentId: 'root' }]).catch(() => undefined);
    await waitFor('part 2 to be recorded', async () =>
      ((await env.services.tasks.get(taskId))?.totalShards ?? 0) > 1 ? true : undefined,
    );
    // Once its shards count as lost, reading the task ends it (a client polling its progress
    // finds out first), and neither more parts nor the commit are taken.
    await waitFor('the import to end', async () => {
      const t = (await readTask(env.services, tenant, taskId)) as { state: string };
      return t.state === 'FAILED' ? t : undefined;
    });
    expect(
      await status(addPart(env.services, tenant, taskId, [{ ...kase('c2', 'Two'), parentId: 'root' }])),
    ).toBe(409);
    expect(await status(commitImport(env.services, tenant, taskId))).toBe(409);
    expect(await env.services.tasks.get(taskId)).toMatchObject({
      state: 'FAILED',
      lastError: expect.stringMatching(/a part was lost/),
    });
    // The source is free again, and nothing of the lost import replaced the tree.
    const next = await openImport(env.services, tenant, source);
    await addPart(env.services, tenant, next.taskId, [
      { ...dir('r2', 'R2', [kase('k', 'K')]), parentId: null },
    ]);
    await drain();
    await commitImport(env.services, tenant, next.taskId);
    expect((await env.services.tasks.get(next.taskId))?.state).toBe('COMPLETED');
    expect(await liveTree(env.db, source)).toEqual(flatten(dir('r2', 'R2', [kase('k', 'K')])).sort());
  });
});
