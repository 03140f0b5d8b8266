import { topology } from '@collect/common';
import type { GetMessage } from 'amqplib';
import { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TreeCache } from '../../functions/collect/src/adapters/tree-cache.redis';
import { applyChunk } from '../../functions/collect/src/app/apply-chunk';
import { recordDeadShards } from '../../functions/collect/src/app/dead-shards';
import { readCase } from '../../functions/collect/src/app/read-case';
import { readTask } from '../../functions/collect/src/app/read-task';
import { readTree } from '../../functions/collect/src/app/read-tree';
import { submitImport } from '../../functions/collect/src/app/submit-import';
import type { ImportChunkMessage } from '../../functions/collect/src/schemas';
import { deadEvent } from '../support/dead-event';
import { liveTree } from '../support/stores';
import { createTestEnv, decodeShard, type TestEnv, takeShardMessages } from '../support/test-env';
import { dir, flatten, type InNode, kase, sampleTree } from '../support/tree-fixtures';
import { waitFor } from '../support/wait';

let env: TestEnv;
const tenant = 'default';

beforeAll(async () => {
  env = await createTestEnv({ IMPORT_CHUNK_SIZE: '3', IMPORT_ENQUEUE_TIMEOUT_SECONDS: '1' });
});
afterAll(async () => {
  await env?.close();
});

const takeMessages = async (): Promise<ImportChunkMessage[]> =>
  (await takeShardMessages(env)).map(decodeShard);

async function importAndApply(
  body: Parameters<typeof submitImport>[2],
): Promise<{ taskId: string; messages: ImportChunkMessage[] }> {
  const { taskId } = await submitImport(env.services, tenant, body);
  const messages = await takeMessages();
  for (const m of messages) await applyChunk(env.services, m);
  return { taskId, messages };
}

/** The current (head) row of every node of a source, deleted ones included. */
async function rows(table: 'test_directory' | 'test_case', source: string): Promise<RowDataPacket[]> {
  const parent = table === 'test_case' ? 'directory_id' : 'parent_id';
  const [r] = await env.db.query<RowDataPacket[]>(
    `SELECT id, ${parent} AS parent, name, path, level, position, content_hash, version, seen_version, deleted, update_time
       FROM ${table} WHERE tenant_id = ? AND source = ? AND valid_to IS NULL ORDER BY id`,
    [tenant, source],
  );
  return r;
}

/** The MongoDB document each live case's current row names, by case id. */
async function caseDocs(source: string) {
  const [cases] = await env.db.query<RowDataPacket[]>(
    `SELECT id, doc_version FROM test_case
      WHERE tenant_id = ? AND source = ? AND valid_to IS NULL AND deleted = 0 ORDER BY id`,
    [tenant, source],
  );
  const docs = [];
  for (const c of cases) {
    const { _id, ...doc } = (await env.services.cases.get(tenant, source, c.id, Number(c.doc_version))) ?? {};
    docs.push(doc as Record<string, unknown> & { caseId: string; content: Record<string, unknown> });
  }
  return docs.sort((a, b) => (a.caseId < b.caseId ? -1 : 1));
}

describe('a FULL import through the queue and the worker', () => {
  const source = 'full';

  it('stores exactly the input tree in MySQL and every case in MongoDB, and completes the task', async () => {
    const { taskId, messages } = await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    expect(messages.length).toBe(4); // 12 nodes in chunks of 3
    expect(await liveTree(env.db, source)).toEqual(flatten(sampleTree()).sort());
    const docs = await caseDocs(source);
    expect(docs.map((d) => d.caseId)).toEqual(['a-sub-1', 'a1', 'a2', 'b-sub-1', 'b-sub-2', 'b1', 'top']);
    expect(docs.find((d) => d.caseId === 'a-sub-1')?.content).toEqual(kase('a-sub-1', '𝒜 deep case').content);
    const task = await env.services.tasks.get(taskId);
    expect(task).toMatchObject({ state: 'COMPLETED', doneNodes: 12, changedNodes: 12 });
    expect(await readTask(env.services, tenant, taskId)).toMatchObject({
      progress: { doneShards: 4, failedShards: 0 },
    });
    const snapshot = await env.mongo
      .collection('tree_snapshot')
      .findOne({ source, version: task?.treeVersion, part: 0 });
    expect(snapshot).toMatchObject({ counts: { directories: 5, cases: 7 }, parts: 1 });
  });

  it('changes nothing when every chunk is delivered again', async () => {
    const { messages } = await importAndApply({ source: 'replay', mode: 'FULL', tree: sampleTree() });
    const before = {
      dirs: await rows('test_directory', 'replay'),
      cases: await rows('test_case', 'replay'),
      docs: await caseDocs('replay'),
    };
    for (const m of messages) await applyChunk(env.services, m);
    for (const m of messages) await applyChunk(env.services, m);
    expect(await rows('test_directory', 'replay')).toEqual(before.dirs);
    expect(await rows('test_case', 'replay')).toEqual(before.cases);
    expect(await caseDocs('replay')).toEqual(before.docs);
  });

  it('applies a second FULL import: moved case, renamed directory, deleted subtree, changed case', async () => {
    const first = await rows('test_case', source);
    const docsBefore = await caseDocs(source);
    const second = dir('root', 'Root 🌳', [
      dir('a', 'Alpha renamed', [
        kase('a1', 'Alpha one'),
        kase('a2', 'Alpha two', 'changed description'),
        dir('a-sub', 'Alpha sub', []),
      ]),
      dir('b', 'Beta', [kase('b1', 'Beta one'), kase('a-sub-1', '𝒜 deep case')]),
      kase('top', 'Top-level case'),
    ]);
    const { taskId } = await importAndApply({ source, mode: 'FULL', tree: second });
    expect(await liveTree(env.db, source)).toEqual(flatten(second).sort());

    const task = await env.services.tasks.get(taskId);
    expect(task).toMatchObject({ state: 'COMPLETED', deletedNodes: 3 });
    const cases = await rows('test_case', source);
    const byId = new Map(cases.map((c) => [c.id, c]));
    expect(byId.get('a-sub-1')).toMatchObject({ parent: 'b', path: '/root/b/a-sub-1', level: 3, deleted: 0 });
    expect(byId.get('b-sub-1')?.deleted).toBe(1);
    expect(byId.get('b-sub-2')?.deleted).toBe(1);
    // Unchanged nodes are not rewritten: same version, same update time, same MongoDB document.
    const unchanged = first.find((c) => c.id === 'a1');
    expect(byId.get('a1')).toMatchObject({
      version: unchanged?.version,
      update_time: unchanged?.update_time,
    });
    const docs = await caseDocs(source);
    expect(docs.find((d) => d.caseId === 'a1')).toEqual(docsBefore.find((d) => d.caseId === 'a1'));
    expect(docs.find((d) => d.caseId === 'a2')?.content.description).toBe('changed description');
    const dirs = new Map((await rows('test_directory', source)).map((d) => [d.id, d]));
    expect(dirs.get('a')?.name).toBe('Alpha renamed');
    expect(dirs.get('b-sub')?.deleted).toBe(1);
  });

  it('revives a deleted node when a later import brings it back', async () => {
    await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    expect(await liveTree(env.db, source)).toEqual(flatten(sampleTree()).sort());
  });
});

describe('stores that drifted apart', () => {
  it('rewrites a MongoDB document that went missing when the same tree is imported again', async () => {
    const source = 'heal';
    await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    const docsBefore = await caseDocs(source);
    await env.mongo.collection('case_detail').deleteOne({ source, caseId: 'a2' });
    await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    const docs = await caseDocs(source);
    expect(docs.find((d) => d.caseId === 'a2')?.content).toEqual(
      docsBefore.find((d) => d.caseId === 'a2')?.content,
    );
    // The others were left alone.
    expect(docs.find((d) => d.caseId === 'a1')).toEqual(docsBefore.find((d) => d.caseId === 'a1'));
  });

  it('overwrites a document MySQL never recorded (a crash between the two writes)', async () => {
    const source = 'orphan';
    // What a worker killed after its MongoDB write and before its MySQL commit leaves behind,
    // here with content that differs from what the import brings.
    await env.mongo.collection<{ _id: string } & Record<string, unknown>>('case_detail').insertOne({
      _id: `${tenant}\u001f${source}\u001fa2\u001f1`,
      tenantId: tenant,
      source,
      caseId: 'a2',
      content: { steps: ['old'] },
      contentHash: 'stale',
      version: 1,
    });
    const { taskId } = await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    const docs = await caseDocs(source);
    expect(docs.map((d) => d.caseId)).toEqual(['a-sub-1', 'a1', 'a2', 'b-sub-1', 'b-sub-2', 'b1', 'top']);
    const input = kase('a2', 'Alpha two');
    const a2 = docs.find((d) => d.caseId === 'a2');
    expect(a2).toMatchObject({
      content: input.content,
      metadata: input.metadata,
      version: (await env.services.tasks.get(taskId))?.treeVersion,
    });
    // The document now agrees with MySQL, so the next import leaves it alone.
    const mysqlHash = (await rows('test_case', source)).find((r) => r.id === 'a2')?.content_hash;
    expect(a2?.contentHash).toBe(mysqlHash);
    expect(mysqlHash).not.toBe('stale');
  });
});

describe('an INCREMENTAL import', () => {
  const source = 'incr';

  it('adds, moves a directory with its subtree, and deletes a subtree', async () => {
    await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    const { taskId } = await importAndApply({
      source,
      mode: 'INCREMENTAL',
      upserts: [
        { id: 'new-case', type: 'CASE', name: 'New', parentId: 'a', content: { description: 'n' } },
        { id: 'a-sub', type: 'DIRECTORY', name: 'Alpha sub moved', parentId: 'b' },
      ],
      deletes: ['b-sub'],
    });
    expect(await env.services.tasks.get(taskId)).toMatchObject({ state: 'COMPLETED', deletedNodes: 3 });
    const cases = new Map((await rows('test_case', source)).map((c) => [c.id, c]));
    expect(cases.get('new-case')).toMatchObject({
      parent: 'a',
      path: '/root/a/new-case',
      position: 3,
      deleted: 0,
    });
    // The moved directory's descendants follow it.
    expect(cases.get('a-sub-1')).toMatchObject({
      parent: 'a-sub',
      path: '/root/b/a-sub/a-sub-1',
      level: 4,
      deleted: 0,
    });
    expect(cases.get('b-sub-1')?.deleted).toBe(1);
    expect(cases.get('a1')?.deleted).toBe(0);
  });
});

describe('fencing', () => {
  it('lets only the newest claim of a shard settle it', async () => {
    const { taskId } = await submitImport(env.services, tenant, {
      source: 'fence',
      mode: 'FULL',
      tree: kase('only', 'Only'),
    });
    const [message] = await takeMessages();
    if (!message) throw new Error('no shard message');
    const { engine } = env.services;
    const claim = () =>
      engine.tasks.withShard(taskId, 0, (v) => ({
        result: v.shard.epoch + 1,
        patch: { event: 'claim' as const, epoch: v.shard.epoch + 1 },
      }));
    const stale = (await claim()) as number;
    const fresh = await claim();
    expect(fresh).toBe(stale + 1);
    const task = await engine.tasks.getTask(taskId);
    const page = { upserts: message.upserts, deletes: message.deletes };
    const cp = { cursor: null, done: true, pages: 1, records: 1, failedRecords: 0 };
    await engine.pages.prepare(task as never, [page]);
    expect(await engine.pages.commit(task as never, { shardNo: 0, epoch: stale }, [page], cp)).toEqual({
      owned: false,
    });
    if (message) await applyChunk(env.services, message);
    expect((await env.services.tasks.get(taskId))?.state).toBe('COMPLETED');
  });
});

describe('the tree cache', () => {
  it('serves the new tree right after an import completes', async () => {
    const source = 'cache';
    await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    const deps = { ...env.services, maxNodes: 1000 };
    const warm = await readTree(deps, tenant, { source, depth: 5 });
    expect(await readTree(deps, tenant, { source, depth: 5 })).toEqual(warm);
    const renamed: InNode = { ...sampleTree(), name: 'Renamed root' };
    await importAndApply({ source, mode: 'FULL', tree: renamed });
    const fresh = await readTree(deps, tenant, { source, depth: 5 });
    expect(fresh.tree[0]?.name).toBe('Renamed root');
  });
});

describe('reads while Redis is unreachable', () => {
  it('serves the tree and a case from the stores instead of failing', async () => {
    const source = 'no-redis';
    await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    // A real client aimed at a port nothing listens on: every cache call fails fast.
    const down = new Redis({
      port: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    });
    down.on('error', () => undefined);
    try {
      const cache = new TreeCache(down, 60);
      const deps = { ...env.services, cache, maxNodes: 1000 };
      const tree = await readTree(deps, tenant, { source, depth: 5 });
      expect(tree.tree[0]?.id).toBe('root');
      const c = (await readCase({ ...deps, cases: env.services.cases }, tenant, source, 'a1')) as {
        name: string;
      };
      expect(c.name).toBe('Alpha one');
    } finally {
      down.disconnect();
    }
  });
});

describe('an API process that dies between recording an import and queuing its shards', () => {
  /**
   * Everything up to publishing runs for real; then the channel never answers, as if the process
   * had died right there: the task and its shards are committed, no message was ever sent.
   */
  async function recordWithoutQueuing(source: string): Promise<string> {
    const dying = { ...env.services, channel: () => new Promise<never>(() => undefined) };
    void submitImport(dying, tenant, { source, mode: 'FULL', tree: sampleTree() });
    return waitFor('the import to be recorded', async () => {
      const [r] = await env.db.query<RowDataPacket[]>(
        'SELECT id FROM collect_task WHERE source = ? AND total_shards > 0',
        [source],
      );
      return r[0]?.id as string | undefined;
    });
  }

  it('fails the lost shards when the task is read, and frees the source', async () => {
    const source = 'lost-read';
    const lostId = await recordWithoutQueuing(source);
    const task = await waitFor('the lost task to settle when read', async () => {
      const t = (await readTask(env.services, tenant, lostId)) as { state: string };
      return t.state === 'FAILED' ? t : undefined;
    });
    expect(task).toMatchObject({
      progress: { totalNodes: 12, doneNodes: 0, failedNodes: 12, failedShards: 4 },
      shardsByState: { FAILED: 4 },
      lastError: expect.stringMatching(/never queued/),
    });
    // Nothing was written for it, and the next import of the source is accepted and applied.
    expect(await liveTree(env.db, source)).toEqual([]);
    const { taskId } = await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    expect((await env.services.tasks.get(taskId))?.state).toBe('COMPLETED');
    expect(await liveTree(env.db, source)).toEqual(flatten(sampleTree()).sort());
  });

  it('lets the next import of the source take over once the shards count as lost', async () => {
    const source = 'lost-takeover';
    const lostId = await recordWithoutQueuing(source);
    const next = await waitFor('the source to be taken over', async () =>
      submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() }).catch((err) => {
        if (err.status === 409) return undefined;
        throw err;
      }),
    );
    expect(await readTask(env.services, tenant, lostId)).toMatchObject({
      state: 'FAILED',
      lastError: expect.stringMatching(/never queued.*superseded by/),
      progress: { failedShards: 4, failedNodes: 12 },
    });
    expect((await env.services.tasks.shards(lostId)).map((s) => s.state)).toEqual(Array(4).fill('FAILED'));
    for (const m of await takeMessages()) await applyChunk(env.services, m);
    expect((await env.services.tasks.get(next.taskId))?.state).toBe('COMPLETED');
    expect(await liveTree(env.db, source)).toEqual(flatten(sampleTree()).sort());
  });
});

describe('tenants', () => {
  it('keeps tenants whose ids differ only in case apart', async () => {
    const source = 'tenant-case';
    const apply = async (tenantId: string, tree: InNode) => {
      await submitImport(env.services, tenantId, { source, mode: 'FULL', tree });
      for (const m of await takeMessages()) await applyChunk(env.services, m);
    };
    await apply('Acme', sampleTree());
    await apply('ACME', dir('other', 'Other', [kase('o1', 'Other one')]));
    const deps = { ...env.services, maxNodes: 1000 };
    const lower = await readTree(deps, 'Acme', { source, depth: 5 });
    const upper = await readTree(deps, 'ACME', { source, depth: 5 });
    expect(lower.tree.map((n) => n.id)).toEqual(['root']);
    expect(upper.tree.map((n) => n.id)).toEqual(['other']);
    await expect(
      readCase({ ...deps, cases: env.services.cases }, 'ACME', source, 'a1'),
    ).rejects.toMatchObject({
      status: 404,
    });
    // A source another tenant has, or nobody, is not an empty tree: it is not found.
    await expect(readTree(deps, 'acme', { source, depth: 5 })).rejects.toMatchObject({
      status: 404,
      code: 'SOURCE_NOT_FOUND',
    });
  });

  it('reads a source emptied by a FULL import as an empty tree, and one never imported as not found', async () => {
    const source = `emptied-${Date.now()}`;
    const deps = { ...env.services, maxNodes: 1000 };
    await expect(readTree(deps, tenant, { source, depth: 5 })).rejects.toMatchObject({
      status: 404,
      code: 'SOURCE_NOT_FOUND',
    });
    await submitImport(env.services, tenant, { source, mode: 'FULL', tree: sampleTree() });
    for (const m of await takeMessages()) await applyChunk(env.services, m);
    await submitImport(env.services, tenant, { source, mode: 'FULL', tree: [] });
    for (const m of await takeMessages()) await applyChunk(env.services, m);
    await waitFor('the emptying import to end', async () =>
      (await readTree(deps, tenant, { source, depth: 5 })).tree.length === 0 ? true : undefined,
    );
  });
});

describe('a shard message that RabbitMQ dead-lettered', () => {
  /** The Amazon MQ event the bridge would hand the dead-letter consumer for `m`. */

  it('records its shard FAILED, settles the task without deleting anything, and parks the message', async () => {
    const source = 'dead';
    await importAndApply({ source, mode: 'FULL', tree: sampleTree() });
    const before = await liveTree(env.db, source);
    const { taskId } = await submitImport(env.services, tenant, {
      source,
      mode: 'FULL',
      tree: dir('root', 'Root 🌳', [kase('a1', 'Alpha one'), kase('n1', 'New one'), kase('n2', 'New two')]),
    });
    const raw = await takeShardMessages(env);
    expect(raw.length).toBeGreaterThan(1);
    const [lost, ...applied] = raw;
    for (const m of applied) {
      await applyChunk(env.services, decodeShard(m));
    }
    expect(await recordDeadShards(env.services, deadEvent(lost as GetMessage))).toBe(1);
    expect(await readTask(env.services, tenant, taskId)).toMatchObject({
      state: 'PARTIALLY_COMPLETED',
      progress: { failedShards: 1 },
    });
    expect((await env.services.tasks.shards(taskId))[0]).toMatchObject({
      state: 'FAILED',
      lastError: expect.stringMatching(/dead-lettered/),
    });
    // An incomplete FULL import deletes nothing: every node of the old tree is still there.
    const after = await liveTree(env.db, source);
    for (const row of before) expect(after).toContainEqual(row);
    const parked = await env.channel.get(`${env.config.AMQP_PREFIX}.import-chunk.parked`, { noAck: true });
    expect(parked === false ? undefined : parked.content).toEqual((lost as GetMessage).content);
  });

  it('moves a dead message its consumer keeps failing on to the parked queue, instead of looping', async () => {
    const t = topology(env.config.AMQP_PREFIX);
    const ch = await env.amqp.createChannel();
    try {
      ch.publish(t.deadLetterExchange, 'import-chunk', Buffer.from('too large to invoke'), {
        persistent: true,
      });
      // Each failed delivery of the consumer (here: a reject with requeue) counts, as in the bridge.
      const parked = await waitFor('the message to be parked', async () => {
        const m = await ch.get(t.deadQueue('import-chunk'));
        if (m !== false) ch.nack(m, false, true);
        const p = await ch.get(t.parkedQueue('import-chunk'), { noAck: true });
        return p === false ? undefined : p;
      });
      expect(parked.content.toString()).toBe('too large to invoke');
    } finally {
      await ch.close();
    }
  });

  it('parks a message that is not a shard without failing', async () => {
    const poison = { content: Buffer.from('not json'), properties: { messageId: 'poison' } };
    expect(await recordDeadShards(env.services, deadEvent(poison))).toBe(1);
    const parked = await env.channel.get(`${env.config.AMQP_PREFIX}.import-chunk.parked`, { noAck: true });
    expect(parked === false ? undefined : parked.content.toString()).toBe('not json');
  });
});
