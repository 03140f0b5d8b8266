import type { RowDataPacket } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../support/stack';
import { dir, flatten, type InNode, kase, sampleTree } from '../support/tree-fixtures';
import { waitFor } from '../support/wait';

const stack = new Stack(3100, {
  IMPORT_CHUNK_SIZE: '4',
  IMPORT_MAX_NODES: '300',
  IMPORT_MAX_DEPTH: '8',
  IMPORT_MAX_BODY_BYTES: '200000',
  // Every shard message gzipped, so this path runs through the bridge and the worker too.
  AMQP_GZIP_MIN_BYTES: '1',
});
let db: mysql.Connection;

beforeAll(async () => {
  await stack.start();
  db = await mysql.createConnection({ uri: stack.env.MYSQL_URL, charset: 'utf8mb4_unicode_ci' });
});
afterAll(async () => {
  await db?.end();
  await stack.stop();
});

interface TreeView {
  id: string;
  type: string;
  name: string;
  position: number;
  children?: TreeView[];
}

/** The tree as the API returns it, in the same flat form as `flatten(input)`. */
async function treeFromApi(source: string): Promise<[string, string | null, string, string, number][]> {
  const res = await stack.request('GET', `/api/testcase/tree?source=${source}&depth=20`);
  expect(res.status).toBe(200);
  const out: [string, string | null, string, string, number][] = [];
  const walk = (n: TreeView, parent: string | null) => {
    out.push([n.id, parent, n.type, n.name, n.position]);
    for (const c of n.children ?? []) walk(c, n.id);
  };
  for (const n of res.body.tree as TreeView[]) walk(n, null);
  return out;
}

async function importTree(body: unknown): Promise<string> {
  const res = await stack.request('POST', '/api/testcase/import', body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const task = await stack.settledTask(res.body.taskId);
  expect(task.state, JSON.stringify(task)).toBe('COMPLETED');
  return res.body.taskId;
}

describe('importing a test-case tree over HTTP', () => {
  it('reads a FULL import back exactly, tree and case details', async () => {
    const tree = sampleTree();
    const taskId = await importTree({ source: 'shop', mode: 'FULL', tree });
    expect(await treeFromApi('shop')).toEqual(flatten(tree));

    const task = await stack.request('GET', `/api/tasks/${taskId}`);
    expect(task.body).toMatchObject({
      state: 'COMPLETED',
      progress: { totalNodes: 12, doneNodes: 12, failedNodes: 0, totalShards: 3 },
    });
    expect(task.body.shards.map((s: { state: string }) => s.state)).toEqual([
      'COMPLETED',
      'COMPLETED',
      'COMPLETED',
    ]);

    const c = await stack.request('GET', '/api/testcase/a-sub-1?source=shop');
    expect(c.status).toBe(200);
    const input = tree.children?.[0]?.children?.[2]?.children?.[0] as InNode;
    expect(c.body).toMatchObject({
      id: 'a-sub-1',
      name: '𝒜 deep case',
      content: input.content,
      metadata: input.metadata,
    });
    expect(c.body.path).toEqual([
      { id: 'root', name: 'Root 🌳' },
      { id: 'a', name: 'Alpha' },
      { id: 'a-sub', name: 'Alpha sub' },
    ]);
  });

  it('applies a second FULL import with a moved case, a renamed directory, a deleted subtree and a changed case', async () => {
    const second = dir('root', 'Root 🌳', [
      dir('a', 'Alpha ✏️ renamed', [
        kase('a1', 'Alpha one'),
        kase('a2', 'Alpha two', 'new words'),
        dir('a-sub', 'Alpha sub', []),
      ]),
      dir('b', 'Beta', [kase('b1', 'Beta one'), kase('a-sub-1', '𝒜 deep case')]),
      kase('top', 'Top-level case'),
    ]);
    const taskId = await importTree({ source: 'shop', mode: 'FULL', tree: second });
    expect(await treeFromApi('shop')).toEqual(flatten(second));
    expect((await stack.request('GET', `/api/tasks/${taskId}`)).body.progress.deletedNodes).toBe(3);
    expect((await stack.request('GET', '/api/testcase/b-sub-1?source=shop')).status).toBe(404);
    const moved = await stack.request('GET', '/api/testcase/a-sub-1?source=shop');
    expect(moved.body.path.map((p: { id: string }) => p.id)).toEqual(['root', 'b']);
    const changed = await stack.request('GET', '/api/testcase/a2?source=shop');
    expect(changed.body.content.description).toBe('new words');
  });

  it('applies an INCREMENTAL import of upserts and deletes', async () => {
    await importTree({ source: 'inc', mode: 'FULL', tree: sampleTree() });
    await importTree({
      source: 'inc',
      mode: 'INCREMENTAL',
      upserts: [
        { id: 'n1', type: 'CASE', name: 'New case', parentId: 'b', content: { description: 'fresh' } },
        { id: 'nd', type: 'DIRECTORY', name: 'New dir', parentId: null, children: [kase('nd-1', 'Inside')] },
        { id: 'a1', type: 'CASE', name: 'Alpha one, renamed', parentId: 'a' },
      ],
      deletes: ['b-sub', 'top'],
    });
    const expected = dir('root', 'Root 🌳', [
      dir('a', 'Alpha', [
        kase('a1', 'Alpha one, renamed'),
        kase('a2', 'Alpha two'),
        dir('a-sub', 'Alpha sub', [kase('a-sub-1', '𝒜 deep case')]),
      ]),
      dir('b', 'Beta', [kase('b1', 'Beta one')]),
    ]);
    const got = await treeFromApi('inc');
    const want = flatten(expected);
    // New nodes are appended: n1 after b's last child (b-sub at 1), nd after the top-level root.
    want.push(
      ['n1', 'b', 'CASE', 'New case', 2],
      ['nd', null, 'DIRECTORY', 'New dir', 1],
      ['nd-1', 'nd', 'CASE', 'Inside', 0],
    );
    expect(got.sort()).toEqual(want.sort());
  });

  it('keeps names with 4-byte characters byte-identical', async () => {
    const name = '🧪 テスト 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{1F600}\u200d combining é';
    await importTree({ source: 'utf', mode: 'FULL', tree: [kase('u1', name)] });
    const c = await stack.request('GET', '/api/testcase/u1?source=utf');
    expect(Buffer.from(c.body.name, 'utf8').equals(Buffer.from(name, 'utf8'))).toBe(true);
  });

  it('answers 404 for an unknown task, case and tree root', async () => {
    expect((await stack.request('GET', '/api/tasks/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await stack.request('GET', '/api/testcase/nope?source=shop')).status).toBe(404);
    expect((await stack.request('GET', '/api/testcase/tree?source=shop&rootId=nope')).status).toBe(404);
  });
});

describe('versions readers can trust', () => {
  /** A tree of `dirs` directories of `cases` cases, its names and contents marked with `tag`. */
  const wide = (tag: string, dirs: number, cases: number, shift = 0): InNode =>
    dir('root', `Root ${tag}`, [
      ...Array.from({ length: dirs }, (_, d) =>
        dir(
          `d${d}`,
          `Dir ${d} ${tag}`,
          Array.from({ length: cases }, (_, c) =>
            kase(`c${d}-${(c + shift) % cases}`, `Case ${d}.${c} ${tag}`, tag),
          ),
        ),
      ),
    ]);

  it('answers every read during a FULL import with the old tree or the new one, whole, through a crash', async () => {
    const source = 'versions-e2e';
    const a = wide('A', 12, 6);
    const b = wide('B', 10, 6, 1);
    await importTree({ source, mode: 'FULL', tree: a });
    const trees = new Map([
      [JSON.stringify(flatten(a)), 'A'],
      [JSON.stringify(flatten(b)), 'B'],
    ]);
    const seen: string[] = [];
    const mixed: string[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const got = trees.get(JSON.stringify(await treeFromApi(source)));
        if (got === undefined) mixed.push('a tree that is neither A nor B');
        else seen.push(got);
        // c0-1 is in both trees, with its name and content from one of them: never one of each.
        const one = await stack.request('GET', `/api/testcase/c0-1?source=${source}`);
        const { name, content } = one.body ?? {};
        const tag = content?.description;
        if (one.status !== 200 || !['A', 'B'].includes(tag) || !name?.endsWith(` ${tag}`))
          mixed.push(`case: ${one.status} ${name} / ${tag}`);
      }
    })();
    const res = await stack.request('POST', '/api/testcase/import', { source, mode: 'FULL', tree: b });
    expect(res.status).toBe(202);
    // Kill the worker process and its bridge once the import is under way, then bring them back.
    await waitFor('a few shards to complete', async () => {
      const t = await stack.request('GET', `/api/tasks/${res.body.taskId}`);
      return t.body?.progress?.doneShards >= 2 || undefined;
    });
    await stack.kill('workers');
    await stack.kill('bridge');
    await waitFor('a read while the workers are down', async () => (seen.length > 3 ? true : undefined));
    await stack.startPart('workers');
    await stack.startPart('bridge');
    const task = await stack.settledTask(res.body.taskId);
    expect(task.state).toBe('COMPLETED');
    await waitFor('a read of the new tree', async () => (seen.at(-1) === 'B' ? true : undefined));
    reading = false;
    await reader;
    expect(mixed).toEqual([]);
    expect(seen[0]).toBe('A');
    // Never back to A once B was read.
    expect(seen.slice(seen.indexOf('B'))).not.toContain('A');
    const versions = await stack.request('GET', `/api/testcase/versions?source=${source}`);
    expect(versions.body).toMatchObject({ published: 2, versions: [{ version: 2 }, { version: 1 }] });
    const older = await stack.request('GET', `/api/testcase/tree?source=${source}&depth=20&version=1`);
    expect(older.body.version).toBe(1);
    const diff = await stack.request('GET', `/api/testcase/diff?source=${source}&from=1`);
    expect(diff.status).toBe(200);
    expect(diff.body.to).toBe(2);
    const bad = await stack.request('GET', `/api/testcase/diff?source=${source}&from=x&to=0&limit=0`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'query.from',
      'query.limit',
      'query.to',
    ]);
  });
});

describe('a tree sent in parts', () => {
  it('is imported over HTTP part by part and read back exactly after the commit', async () => {
    const open = await stack.request('POST', '/api/testcase/imports', { source: 'parted', mode: 'FULL' });
    expect(open.status, JSON.stringify(open.body)).toBe(201);
    const { taskId, partsUrl, commitUrl } = open.body;
    const tree = sampleTree();
    const [a, b, top] = tree.children ?? [];
    const first = await stack.request('POST', partsUrl, {
      nodes: [{ ...tree, children: [a], parentId: null }],
    });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const second = await stack.request('POST', partsUrl, {
      nodes: [
        { ...b, parentId: 'root' },
        { ...top, parentId: 'root' },
      ],
    });
    expect(second.status, JSON.stringify(second.body)).toBe(202);
    // An import of the same source meanwhile is refused, naming this one.
    const other = await stack.request('POST', '/api/testcase/import', {
      source: 'parted',
      mode: 'FULL',
      tree: kase('x', 'x'),
    });
    expect(other.status, JSON.stringify(other.body)).toBe(409);
    expect(other.body.error.details).toMatchObject({ taskId });
    const bad = await stack.request('POST', partsUrl, { nodes: [{ ...kase('a1', 'again'), parentId: 'a' }] });
    expect(bad.status, JSON.stringify(bad.body)).toBe(400);
    expect(bad.body.error.details[0]).toMatchObject({ path: 'nodes[0]', code: 'duplicate_id' });

    const commit = await stack.request('POST', commitUrl);
    expect(commit.status, JSON.stringify(commit.body)).toBe(202);
    const settled = await stack.settledTask(taskId);
    expect(settled.state, JSON.stringify(settled)).toBe('COMPLETED');
    expect(await treeFromApi('parted')).toEqual(flatten(tree));
    expect(
      (await stack.request('POST', partsUrl, { nodes: [{ ...kase('late', 'late'), parentId: null }] }))
        .status,
    ).toBe(409);
  });
});

describe('control of an import over HTTP', () => {
  it('pauses an import: its parts wait, nothing is written; resumed and committed, it ends exact', async () => {
    const open = await stack.request('POST', '/api/testcase/imports', {
      source: 'paused-import',
      mode: 'FULL',
    });
    expect(open.status, JSON.stringify(open.body)).toBe(201);
    const { taskId, partsUrl, commitUrl } = open.body;
    const paused = await stack.request('POST', `/api/tasks/${taskId}/pause`);
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body.state).toBe('PAUSED');
    const tree = sampleTree();
    const part = await stack.request('POST', partsUrl, { nodes: [{ ...tree, parentId: null }] });
    expect(part.status, JSON.stringify(part.body)).toBe(202);
    const shards = (part.body.shards as number[]).length;
    // Each chunk reaches the worker, which keeps it with its shard and writes nothing.
    await waitFor('every chunk to be kept', async () => {
      const logs = (await stack.request('GET', `/api/tasks/${taskId}/logs?limit=1000`)).body;
      return logs.items.filter((e: { type: string }) => e.type === 'shard.skipped').length >= shards
        ? true
        : undefined;
    });
    const [rows] = await db.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM test_case WHERE source = 'paused-import'",
    );
    expect(Number(rows[0]?.n)).toBe(0);
    const view = (await stack.request('GET', `/api/tasks/${taskId}`)).body;
    expect(view.shards.every((s: { state: string }) => s.state === 'PAUSED')).toBe(true);

    const resumed = await stack.request('POST', `/api/tasks/${taskId}/resume`);
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    expect((await stack.request('POST', commitUrl)).status).toBe(202);
    const settled = await stack.settledTask(taskId);
    expect(settled.state, JSON.stringify(settled)).toBe('COMPLETED');
    expect(await treeFromApi('paused-import')).toEqual(flatten(tree));
  });
});

describe('bad input', () => {
  async function storeCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const t of ['collect_task', 'collect_shard', 'test_directory', 'test_case', 'tree_source']) {
      const [r] = await db.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${t}`);
      out[t] = Number(r[0]?.n);
    }
    return out;
  }

  const deep = (levels: number): InNode => {
    let node: InNode = kase('leaf', 'leaf');
    for (let i = 0; i < levels; i += 1) node = dir(`d${i}`, `d${i}`, [node]);
    return node;
  };

  const cases: [string, unknown, number, string[]][] = [
    ['not JSON', '{"source": "x",', 400, ['']],
    ['an empty body', '', 400, ['']],
    ['missing fields and a bad mode', { mode: 'SOMETIMES' }, 400, ['source', 'mode']],
    ['a bad source', { source: 'has space', mode: 'FULL', tree: kase('a', 'a') }, 400, ['source']],
    [
      'duplicate ids',
      { source: 'bad', mode: 'FULL', tree: dir('r', 'r', [kase('x', 'x'), kase('x', 'y')]) },
      400,
      ['tree.children[1].id'],
    ],
    [
      'a case with children',
      { source: 'bad', mode: 'FULL', tree: { ...kase('c', 'c'), children: [kase('k', 'k')] } },
      400,
      ['tree.children'],
    ],
    [
      'an unknown type',
      { source: 'bad', mode: 'FULL', tree: { id: 'u', type: 'FOLDER', name: 'u' } },
      400,
      ['tree.type'],
    ],
    ['an empty name', { source: 'bad', mode: 'FULL', tree: kase('e', '') }, 400, ['tree.name']],
    [
      'an over-long name',
      { source: 'bad', mode: 'FULL', tree: kase('l', 'n'.repeat(256)) },
      400,
      ['tree.name'],
    ],
    [
      'a tree deeper than the limit',
      { source: 'bad', mode: 'FULL', tree: deep(9) },
      400,
      [
        'tree.children[0].children[0].children[0].children[0].children[0].children[0].children[0].children[0]',
      ],
    ],
    [
      'more nodes than the limit',
      {
        source: 'bad',
        mode: 'FULL',
        tree: dir(
          'r',
          'r',
          Array.from({ length: 400 }, (_, i) => kase(`c${i}`, 'c')),
        ),
      },
      400,
      ['tree.children[299]'],
    ],
    [
      'an incremental upsert whose parent exists nowhere',
      {
        source: 'shop',
        mode: 'INCREMENTAL',
        upserts: [{ ...kase('orphan', 'o'), parentId: 'no-such-dir' }],
        deletes: [],
      },
      400,
      ['upserts[0].parentId'],
    ],
    [
      'several problems at once',
      {
        source: 'bad',
        mode: 'FULL',
        tree: [kase('a', ''), { id: 'b', type: 'X', name: 'b' }, kase('a', 'dup')],
      },
      400,
      ['tree[0].name', 'tree[1].type', 'tree[2].id'],
    ],
  ];

  it.each(cases)(
    'rejects %s with every problem listed and writes nothing',
    async (_what, body, status, paths) => {
      const before = await storeCounts();
      const res = await stack.request('POST', '/api/testcase/import', body);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      const listed = (res.body.error.details as { path: string }[]).map((d) => d.path);
      for (const p of paths) expect(listed).toContain(p);
      expect(await storeCounts()).toEqual(before);
    },
  );

  it('rejects a body over the size limit with 413 and writes nothing', async () => {
    const before = await storeCounts();
    const big = {
      source: 'bad',
      mode: 'FULL',
      tree: kase('big', 'big', 'x'.repeat(60_000)),
      pad: 'y'.repeat(200_000),
    };
    const res = await stack.request('POST', '/api/testcase/import', big);
    expect(res.status).toBe(413);
    const documented = {
      error: {
        code: 'PAYLOAD_TOO_LARGE',
        message: 'request body is larger than 200000 bytes',
        details: { limitBytes: 200000 },
      },
    };
    expect(res.body).toEqual(documented);
    // Far over it, past what the local HTTP layer reads at all: the same answer, not its own.
    const huge = { ...big, pad: 'y'.repeat(3_000_000) };
    const refused = await stack.request('POST', '/api/testcase/import', huge);
    expect(refused.status).toBe(413);
    expect(refused.body).toEqual(documented);
    expect(await storeCounts()).toEqual(before);
  });
});
