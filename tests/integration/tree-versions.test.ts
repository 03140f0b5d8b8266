import type { GetMessage } from 'amqplib';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChunk } from '../../functions/collect/src/app/apply-chunk';
import { recordDeadShards } from '../../functions/collect/src/app/dead-shards';
import { publishPartial } from '../../functions/collect/src/app/publish-run';
import { readCase } from '../../functions/collect/src/app/read-case';
import { readTask } from '../../functions/collect/src/app/read-task';
import { readTree, type TreeNodeView } from '../../functions/collect/src/app/read-tree';
import { controlRun } from '../../functions/collect/src/app/runs';
import { submitImport } from '../../functions/collect/src/app/submit-import';
import { diffVersions, listVersions, type NodeChange } from '../../functions/collect/src/app/tree-history';
import { contentHash } from '../../functions/collect/src/app/tree-walk';
import { deadEvent } from '../support/dead-event';
import { liveTree } from '../support/stores';
import { createTestEnv, decodeShard, type TestEnv, takeShardMessages } from '../support/test-env';
import { dir, flatten, type InNode, kase, sampleTree } from '../support/tree-fixtures';

let env: TestEnv;
const tenant = 'default';
const KEEP = 3;

beforeAll(async () => {
  env = await createTestEnv({ IMPORT_CHUNK_SIZE: '3', TREE_VERSIONS_KEEP: String(KEEP) });
});
afterAll(async () => {
  await env?.close();
});

const deps = () => ({ ...env.services, maxNodes: 10_000 });
const tree = (source: string, version?: number) =>
  readTree(deps(), tenant, { source, depth: 64, ...(version ? { version } : {}) });

/** Submits an import and returns its chunk messages, applied by the caller one at a time. */
async function submit(body: Parameters<typeof submitImport>[2]) {
  const { taskId } = await submitImport(env.services, tenant, body);
  return { taskId, messages: (await takeShardMessages(env)).map(decodeShard) };
}

async function importAll(body: Parameters<typeof submitImport>[2]): Promise<string> {
  const { taskId, messages } = await submit(body);
  for (const m of messages) await applyChunk(env.services, m);
  return taskId;
}

/** A read tree as the [id, parentId, type, name, position] list `flatten` makes of an input. */
function flattenRead(nodes: TreeNodeView[], parent: string | null = null): ReturnType<typeof flatten> {
  return nodes.flatMap((n) => [
    [n.id, parent, n.type, n.name, n.position] as ReturnType<typeof flatten>[number],
    ...flattenRead(n.children ?? [], n.id),
  ]);
}

/** Tree B: from sampleTree, a rename, a content change, a reorder, a directory moved with its subtree, deletions and additions. */
function treeB(): InNode {
  return dir('root', 'Root 🌳', [
    dir('a', 'Alpha', [
      kase('a2', 'Alpha two', 'a new description'),
      kase('a1', 'Alpha one, renamed'),
      dir('a-sub', 'Alpha sub', [kase('a-sub-1', '𝒜 deep case')]),
      dir('b-sub', 'Beta sub', [kase('b-sub-1', 'Beta deep'), kase('b-sub-2', 'Beta deeper')]),
    ]),
    dir('b', 'Beta', [kase('new1', 'New one')]),
    dir('c', 'Gamma', [kase('c1', 'Gamma one')]),
  ]);
}

/** What changed between two input trees, worked out from the inputs alone. */
function expectedDiff(before: InNode, after: InNode): Map<string, string[]> {
  const index = (t: InNode) => {
    const out = new Map<string, { parent: string | null; name: string; position: number; hash: string }>();
    const walk = (n: InNode, parent: string | null, position: number) => {
      out.set(n.id, { parent, name: n.name, position, hash: contentHash(n) });
      for (const [i, child] of (n.children ?? []).entries()) walk(child, n.id, i);
    };
    walk(t, null, 0);
    return out;
  };
  const a = index(before);
  const b = index(after);
  const diff = new Map<string, string[]>();
  for (const id of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(id);
    const y = b.get(id);
    const kinds: string[] = [];
    if (!x) kinds.push('added');
    else if (!y) kinds.push('deleted');
    else {
      if (x.name !== y.name) kinds.push('renamed');
      if (x.parent !== y.parent) kinds.push('moved');
      else if (x.position !== y.position) kinds.push('reordered');
      if (x.hash !== y.hash) kinds.push('changed');
    }
    if (kinds.length > 0) diff.set(id, kinds);
  }
  return diff;
}

async function wholeDiff(source: string, from: number, to?: number, limit = 1000): Promise<NodeChange[]> {
  const out: NodeChange[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages += 1) {
    const page = await diffVersions(env.services, tenant, {
      source,
      from,
      ...(to ? { to } : {}),
      limit,
      ...(cursor ? { cursor } : {}),
    });
    out.push(...page.changes);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
  throw new Error('the diff never ended');
}

const rowsOf = async (source: string) => {
  const [r] = await env.db.query<RowDataPacket[]>(
    `SELECT 'D' AS t, id, valid_from, valid_to, deleted FROM test_directory WHERE tenant_id = ? AND source = ?
     UNION ALL SELECT 'C', id, valid_from, valid_to, deleted FROM test_case WHERE tenant_id = ? AND source = ?`,
    [tenant, source, tenant, source],
  );
  return r;
};

describe('a run publishes its version atomically', () => {
  it('answers every read from the old tree, whole, until a FULL import completes; then from the new one', async () => {
    const source = 'v-atomic';
    await importAll({ source, mode: 'FULL', tree: sampleTree() });
    const a = await tree(source);
    expect(a.version).toBe(1);
    expect(flattenRead(a.tree).sort()).toEqual(flatten(sampleTree()).sort());
    // As the HTTP answer carries it (a first read has Dates, a cached one their JSON).
    const caseAt = async (version?: number) =>
      JSON.parse(JSON.stringify(await readCase(deps(), tenant, source, 'a2', version)));
    const caseA = await caseAt();
    const { messages } = await submit({ source, mode: 'FULL', tree: treeB() });
    expect(messages.length).toBeGreaterThan(2);
    for (const [i, m] of messages.entries()) {
      await applyChunk(env.services, m);
      if (i === messages.length - 1) break;
      // Mid-import: exactly tree A, through the API's readers and through MySQL's view.
      expect(await tree(source)).toEqual(a);
      expect(await caseAt()).toEqual(caseA);
      expect(await liveTree(env.db, source)).toEqual(flatten(sampleTree()).sort());
      await expect(readCase(deps(), tenant, source, 'c1')).rejects.toMatchObject({ status: 404 });
    }
    const b = await tree(source);
    expect(b.version).toBe(2);
    expect(flattenRead(b.tree).sort()).toEqual(flatten(treeB()).sort());
    expect(await liveTree(env.db, source)).toEqual(flatten(treeB()).sort());
    expect(await readCase(deps(), tenant, source, 'a2')).toMatchObject({
      version: 2,
      changedIn: 2,
      content: { description: 'a new description' },
    });
    // Version 1 is still readable, exactly as it was.
    expect(await tree(source, 1)).toEqual(a);
    expect(await caseAt(1)).toEqual(caseA);
  });

  it('leaves the published version as it was after a STOPPED run, and the next run discards what it wrote', async () => {
    const source = 'v-stopped';
    await importAll({ source, mode: 'FULL', tree: sampleTree() });
    const before = await tree(source);
    const { taskId, messages } = await submit({ source, mode: 'FULL', tree: treeB() });
    await applyChunk(env.services, messages[0] as never);
    expect((await controlRun(env.services, tenant, taskId, 'stop')).state).toBe('STOPPED');
    for (const m of messages.slice(1)) await applyChunk(env.services, m);
    expect(await tree(source)).toEqual(before);
    expect((await listVersions(env.services, tenant, source)).versions.map((v) => v.version)).toEqual([1]);
    // The stopped run's rows exist but no reader sees them; the next run discards them.
    expect((await rowsOf(source)).some((r) => Number(r.valid_from) === 2)).toBe(true);
    const stoppedDocs = () => env.mongo.collection('case_detail').countDocuments({ source, version: 2 });
    expect(await stoppedDocs()).toBeGreaterThan(0);
    await importAll({ source, mode: 'FULL', tree: sampleTree() });
    const rows = await rowsOf(source);
    expect(rows.some((r) => Number(r.valid_from) === 2 || Number(r.valid_to) === 2)).toBe(false);
    const after = await tree(source);
    expect(after.version).toBe(3);
    expect(after.tree).toEqual(before.tree);
    // Its documents went with the next run's sweep.
    expect(await stoppedDocs()).toBe(0);
  });

  it('publishes nothing from a FAILED run', async () => {
    const source = 'v-failed';
    await importAll({ source, mode: 'FULL', tree: sampleTree() });
    const before = await tree(source);
    const { taskId } = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: treeB() });
    // Every chunk dead-lettered: the run fails by its shards.
    for (const m of await takeShardMessages(env))
      expect(await recordDeadShards(env.services, deadEvent(m as GetMessage))).toBe(1);
    await takeShardMessages(env); // the parked copies
    expect(await readTask(env.services, tenant, taskId)).toMatchObject({ state: 'FAILED' });
    expect(await tree(source)).toEqual(before);
    expect((await listVersions(env.services, tenant, source)).published).toBe(1);
  });

  it('publishes a PARTIALLY_COMPLETED run only when asked, with what it wrote and nothing deleted', async () => {
    const source = 'v-partial';
    await importAll({ source, mode: 'FULL', tree: sampleTree() });
    const before = await tree(source);
    const { taskId } = await submitImport(env.services, tenant, { source, mode: 'FULL', tree: treeB() });
    const raw = await takeShardMessages(env);
    const [lost, ...applied] = raw;
    for (const m of applied) await applyChunk(env.services, decodeShard(m));
    expect(await recordDeadShards(env.services, deadEvent(lost as GetMessage))).toBe(1);
    await takeShardMessages(env); // the parked copy
    expect(await readTask(env.services, tenant, taskId)).toMatchObject({ state: 'PARTIALLY_COMPLETED' });
    expect(await tree(source)).toEqual(before);

    const published = await publishPartial(env.services, tenant, taskId);
    expect(published).toMatchObject({ version: 2, published: { partial: true, counts: { deleted: 0 } } });
    const after = await tree(source);
    expect(after.version).toBe(2);
    // What the applied chunks carried is there; nothing of tree A was deleted.
    const ids = new Set(flattenRead(after.tree).map((n) => n[0]));
    const appliedIds = applied.flatMap((m) => decodeShard(m).upserts.map((u) => u.id));
    for (const id of appliedIds) expect(ids.has(id)).toBe(true);
    for (const [id] of flatten(sampleTree())) expect(ids.has(id)).toBe(true);
    // Again: the same answer. A retry of a published run is refused.
    expect(await publishPartial(env.services, tenant, taskId)).toEqual(published);
    await expect(controlRun(env.services, tenant, taskId, 'retry', { scope: 'ALL' })).rejects.toMatchObject({
      status: 409,
    });
  });

  it('refuses to publish a run that is not PARTIALLY_COMPLETED, naming its state', async () => {
    const source = 'v-publish-refused';
    await importAll({ source, mode: 'FULL', tree: sampleTree() });
    const { taskId } = await submit({ source, mode: 'FULL', tree: treeB() });
    const { state } = (await readTask(env.services, tenant, taskId)) as { state: string };
    await expect(publishPartial(env.services, tenant, taskId)).rejects.toMatchObject({
      status: 409,
      details: { state },
    });
    await expect(publishPartial(env.services, tenant, crypto.randomUUID())).rejects.toMatchObject({
      status: 404,
    });
    await expect(publishPartial(env.services, 'someone-else', taskId)).rejects.toMatchObject({ status: 404 });
  });
});

describe('versions, reads as of a version, and the diff', () => {
  const source = 'v-history';
  const c = (): InNode =>
    dir('root', 'Root renamed', [
      dir('a', 'Alpha', [kase('a1', 'Alpha one, renamed'), kase('a-sub-1', '𝒜 deep case', 'edited')]),
      dir('c', 'Gamma', [kase('c1', 'Gamma one'), dir('b', 'Beta', [kase('new1', 'New one')])]),
    ]);

  it('lists the versions with what each changed, and diffs two of them as their inputs differ', async () => {
    const t1 = await importAll({ source, mode: 'FULL', tree: sampleTree() });
    const t2 = await importAll({ source, mode: 'FULL', tree: treeB() });
    await importAll({ source, mode: 'FULL', tree: c() });
    const list = await listVersions(env.services, tenant, source);
    expect(list.published).toBe(3);
    expect(list.versions.map((v) => [v.version, v.taskId])).toEqual([
      [3, expect.any(String)],
      [2, t2],
      [1, t1],
    ]);
    const v2 = expectedDiff(sampleTree(), treeB());
    const count = (d: Map<string, string[]>, k: string) =>
      [...d.values()].filter((x) => x.includes(k)).length;
    expect(list.versions[1]?.counts).toEqual({
      added: count(v2, 'added'),
      deleted: count(v2, 'deleted'),
      moved: count(v2, 'moved'),
      renamed: count(v2, 'renamed'),
      changed: count(v2, 'changed'),
    });
    expect(list.versions[1]?.nodes).toEqual({
      directories: flatten(treeB()).filter((n) => n[2] === 'DIRECTORY').length,
      cases: flatten(treeB()).filter((n) => n[2] === 'CASE').length,
    });

    for (const [from, to, before, after] of [
      [1, 2, sampleTree(), treeB()],
      [2, 3, treeB(), c()],
      [1, 3, sampleTree(), c()],
      [3, 1, c(), sampleTree()],
    ] as const) {
      const got = await wholeDiff(source, from, to);
      expect(new Map(got.map((ch) => [ch.id, ch.kinds]))).toEqual(expectedDiff(before, after));
      // Paged two at a time, the same changes in the same order.
      expect(await wholeDiff(source, from, to, 2)).toEqual(got);
    }
    // `to` defaults to the published version; a moved node names both parents.
    const moved = (await wholeDiff(source, 2)).find((ch) => ch.id === 'b');
    expect(moved).toMatchObject({ kinds: ['moved'], from: { parentId: 'root' }, to: { parentId: 'c' } });
  });

  it('answers a publish of a run published long ago with its version, and readers stay on the newest', async () => {
    const first = (await listVersions(env.services, tenant, source)).versions.at(-1);
    // As if the noted published version had expired from Redis.
    await env.redis.del(`published/${tenant}/${source}`);
    expect(await publishPartial(env.services, tenant, first?.taskId as string)).toMatchObject({ version: 1 });
    expect((await tree(source)).version).toBe(3);
  });

  it('reads each retained version exactly, and answers 404 for one that is not', async () => {
    expect(flattenRead((await tree(source, 2)).tree).sort()).toEqual(flatten(treeB()).sort());
    expect(flattenRead((await tree(source, 1)).tree).sort()).toEqual(flatten(sampleTree()).sort());
    expect(await readCase(deps(), tenant, source, 'a-sub-1', 1)).toMatchObject({
      version: 1,
      path: [
        { id: 'root', name: 'Root 🌳' },
        { id: 'a', name: 'Alpha' },
        { id: 'a-sub', name: 'Alpha sub' },
      ],
      content: { description: 'about 𝒜 deep case' },
    });
    expect(await readCase(deps(), tenant, source, 'a-sub-1')).toMatchObject({
      version: 3,
      path: [
        { id: 'root', name: 'Root renamed' },
        { id: 'a', name: 'Alpha' },
      ],
      content: { description: 'edited' },
    });
    for (const version of [4, 99]) {
      await expect(tree(source, version)).rejects.toMatchObject({ status: 404, code: 'VERSION_NOT_FOUND' });
      await expect(wholeDiff(source, version)).rejects.toMatchObject({ status: 404 });
    }
    await expect(tree('v-no-such-source')).rejects.toMatchObject({ status: 404, code: 'SOURCE_NOT_FOUND' });
  });

  it(`keeps ${KEEP} versions, purging older ones with their rows and documents, never the published one`, async () => {
    await importAll({ source, mode: 'FULL', tree: sampleTree() }); // 4
    await importAll({ source, mode: 'FULL', tree: treeB() }); // 5
    await env.services.retention.sweep();
    const list = await listVersions(env.services, tenant, source);
    expect(list.versions.map((v) => v.version)).toEqual([5, 4, 3]);
    for (const gone of [1, 2])
      await expect(tree(source, gone)).rejects.toMatchObject({ status: 404, code: 'VERSION_NOT_FOUND' });
    expect(flattenRead((await tree(source, 3)).tree).sort()).toEqual(flatten(c()).sort());
    expect(flattenRead((await tree(source)).tree).sort()).toEqual(flatten(treeB()).sort());
    // Every row left is seen by a retained version (a deletion only if it happened after the oldest).
    for (const r of await rowsOf(source)) {
      const to = r.valid_to === null ? Number.POSITIVE_INFINITY : Number(r.valid_to);
      const kept = to > 3 && (r.deleted === 0 || Number(r.valid_from) > 3);
      expect({ ...r, kept }).toMatchObject({ kept: true });
    }
    // Every document left is named by a row left, and every row's document is there.
    const [named] = await env.db.query<RowDataPacket[]>(
      'SELECT DISTINCT id, doc_version FROM test_case WHERE tenant_id = ? AND source = ?',
      [tenant, source],
    );
    const docs = await env.mongo
      .collection('case_detail')
      .find({ source }, { projection: { caseId: 1, version: 1 } })
      .toArray();
    expect(docs.map((d) => `${d.caseId}@${d.version}`).sort()).toEqual(
      named.map((r) => `${r.id}@${r.doc_version}`).sort(),
    );
    const snapshots = await env.mongo.collection('tree_snapshot').distinct('version', { source });
    expect(snapshots.sort()).toEqual([3, 4, 5]);
  });
});

describe('an INCREMENTAL move', () => {
  it('moves a subtree in the new version and leaves the old paths in the old one', async () => {
    const source = 'v-move';
    await importAll({ source, mode: 'FULL', tree: sampleTree() });
    await importAll({
      source,
      mode: 'INCREMENTAL',
      upserts: [{ id: 'a-sub', type: 'DIRECTORY', name: 'Alpha sub', parentId: 'b' }],
      deletes: ['top'],
    });
    const old = (await readCase(deps(), tenant, source, 'a-sub-1', 1)) as { path: { id: string }[] };
    const now = (await readCase(deps(), tenant, source, 'a-sub-1')) as { path: { id: string }[] };
    expect(old.path.map((p) => p.id)).toEqual(['root', 'a', 'a-sub']);
    expect(now.path.map((p) => p.id)).toEqual(['root', 'b', 'a-sub']);
    expect(new Map((await wholeDiff(source, 1)).map((ch) => [ch.id, ch.kinds]))).toEqual(
      new Map([
        ['a-sub', ['moved']],
        ['top', ['deleted']],
      ]),
    );
    // A node written twice by one run has one row for that run.
    const [dupes] = await env.db.query<RowDataPacket[]>(
      `SELECT id FROM test_case WHERE tenant_id = ? AND source = ? GROUP BY id, valid_from HAVING COUNT(*) > 1`,
      [tenant, source],
    );
    expect(dupes).toEqual([]);
  });
});

describe('INCREMENTAL upserts merge into what is stored', () => {
  const source = 'v-merge';
  type CaseView = { name: string; status: string; priority: unknown; content: unknown; metadata: unknown };
  const read = (id: string) => readCase(deps(), tenant, source, id) as Promise<CaseView>;

  it('changes only the name on a rename-only upsert', async () => {
    await importAll({ source, mode: 'FULL', tree: sampleTree() });
    const before = await read('a1');
    await importAll({
      source,
      mode: 'INCREMENTAL',
      upserts: [{ id: 'a1', type: 'CASE', parentId: 'a', name: 'Alpha one, renamed' }],
      deletes: [],
    });
    const { updatedAt: _, ...same } = before as CaseView & { updatedAt: unknown };
    expect(await read('a1')).toMatchObject({
      ...same,
      name: 'Alpha one, renamed',
      pathString: 'Root 🌳 / Alpha / Alpha one, renamed',
      version: 2,
      changedIn: 2,
    });
    expect((await wholeDiff(source, 1)).map((ch) => [ch.id, ch.kinds])).toEqual([['a1', ['renamed']]]);
  });

  it('keeps absent fields, clears those given as null, and keeps the name when it is left out', async () => {
    await importAll({
      source,
      mode: 'INCREMENTAL',
      upserts: [
        {
          id: 'a2',
          type: 'CASE',
          parentId: 'a',
          content: { description: null, preconditions: 'logged in' },
          metadata: { tags: null, status: 'DONE' },
        },
      ],
      deletes: [],
    });
    const a2 = kase('a2', 'Alpha two');
    expect(await read('a2')).toMatchObject({
      name: 'Alpha two',
      status: 'DONE',
      priority: 'P1',
      content: { steps: a2.content?.steps, expectedResults: 'ok', preconditions: 'logged in' },
      metadata: { priority: 'P1', status: 'DONE' },
    });
    const content = (await read('a2')).content as Record<string, unknown>;
    expect('description' in content).toBe(false);
    await importAll({
      source,
      mode: 'INCREMENTAL',
      upserts: [{ id: 'a2', type: 'CASE', parentId: 'a', content: null }],
      deletes: [],
    });
    expect(await read('a2')).toMatchObject({ name: 'Alpha two', content: null, status: 'DONE' });
  });

  it('needs a name for a new node, and lists the problem', async () => {
    await expect(
      submitImport(env.services, tenant, {
        source,
        mode: 'INCREMENTAL',
        upserts: [
          { id: 'brand-new', type: 'DIRECTORY', parentId: 'a', children: [{ id: 'kid', type: 'CASE' }] },
        ],
        deletes: [],
      }),
    ).rejects.toMatchObject({
      status: 400,
      details: [
        expect.objectContaining({ path: 'upserts[0].name', code: 'missing_name' }),
        expect.objectContaining({ path: 'upserts[0].children[0].name', code: 'missing_name' }),
      ],
    });
  });
});
