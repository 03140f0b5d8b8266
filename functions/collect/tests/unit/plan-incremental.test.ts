import { HttpError } from '@collect/common';
import { describe, expect, it } from 'vitest';
import { planIncremental, type TreeLookup } from '../../src/app/plan-import';

const limits = { maxNodes: 1000, maxDepth: 5 };

type Known = Awaited<ReturnType<TreeLookup['findByIds']>> extends Map<string, infer V> ? V : never;

/** An in-memory stand-in for the store's lookups: the planner's only port. */
function lookup(nodes: Record<string, Known>, maxPositions: Record<string, number> = {}): TreeLookup {
  return {
    findByIds: async (ids) => new Map(ids.filter((id) => nodes[id]).map((id) => [id, nodes[id] as Known])),
    maxChildPositions: async (parents) =>
      new Map(
        parents
          .filter((p) => p !== null && maxPositions[p] !== undefined)
          .map((p) => [p, maxPositions[p as string] as number]),
      ),
  };
}

const stored = {
  root: { type: 'DIRECTORY', path: '/root', level: 1, position: 0, deleted: false },
  d1: { type: 'DIRECTORY', path: '/root/d1', level: 2, position: 0, deleted: false },
  c1: { type: 'CASE', path: '/root/d1/c1', level: 3, position: 4, deleted: false },
  gone: { type: 'DIRECTORY', path: '/root/gone', level: 2, position: 1, deleted: true },
} as const satisfies Record<string, Known>;

async function problemsOf(p: Promise<unknown>): Promise<{ path: string; code?: string }[]> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HttpError && err.status === 400)
      return err.details as { path: string; code?: string }[];
    throw err;
  }
  throw new Error('expected a 400');
}

const req = (upserts: unknown[], deletes: string[] = []) => ({
  source: 's',
  mode: 'INCREMENTAL' as const,
  upserts,
  deletes,
});

describe('planIncremental', () => {
  it('places a new case under a stored directory, after its last child', async () => {
    const plan = await planIncremental(
      req([{ id: 'c9', type: 'CASE', name: 'new', parentId: 'd1' }]),
      limits,
      lookup(stored, { d1: 4 }),
    );
    expect(plan.upserts).toMatchObject([
      { id: 'c9', parentId: 'd1', path: '/root/d1/c9', level: 3, position: 5 },
    ]);
  });

  it('keeps the position of an updated node', async () => {
    const plan = await planIncremental(
      req([{ id: 'c1', type: 'CASE', name: 'renamed', parentId: 'd1' }]),
      limits,
      lookup(stored, { d1: 4 }),
    );
    expect(plan.upserts[0]?.position).toBe(4);
  });

  it('resolves parents created in the same request, in any order', async () => {
    const plan = await planIncremental(
      req([
        { id: 'c9', type: 'CASE', name: 'leaf', parentId: 'nd' },
        { id: 'nd', type: 'DIRECTORY', name: 'new dir', parentId: 'root' },
      ]),
      limits,
      lookup(stored),
    );
    expect(plan.upserts.map((n) => [n.id, n.path])).toEqual([
      ['nd', '/root/nd'],
      ['c9', '/root/nd/c9'],
    ]);
  });

  it('lists a missing parent, a case parent, a deleted parent and a cycle together', async () => {
    const problems = await problemsOf(
      planIncremental(
        req(
          [
            { id: 'a', type: 'CASE', name: 'a', parentId: 'nowhere' },
            { id: 'b', type: 'CASE', name: 'b', parentId: 'c1' },
            { id: 'c', type: 'CASE', name: 'c', parentId: 'gone' },
            { id: 'x', type: 'DIRECTORY', name: 'x', parentId: 'y' },
            { id: 'y', type: 'DIRECTORY', name: 'y', parentId: 'x' },
            { id: 'root', type: 'DIRECTORY', name: 'r', parentId: 'd1' },
          ],
          [],
        ),
        limits,
        lookup(stored),
      ),
    );
    expect(problems.map((p) => `${p.path}:${p.code}`).sort()).toEqual(
      [
        'upserts[0].parentId:parent_not_found',
        'upserts[1].parentId:parent_is_case',
        'upserts[2].parentId:parent_not_found',
        'upserts[3].parentId:cycle',
        'upserts[4].parentId:cycle',
        'upserts[5].parentId:cycle',
      ].sort(),
    );
  });

  it('rejects an upsert under a directory the same request deletes', async () => {
    const problems = await problemsOf(
      planIncremental(
        req([{ id: 'n', type: 'CASE', name: 'n', parentId: 'd1' }], ['root']),
        limits,
        lookup(stored),
      ),
    );
    expect(problems.map((p) => p.code)).toEqual(['parent_deleted']);
  });

  it('rejects a type change and an id both upserted and deleted', async () => {
    const problems = await problemsOf(
      planIncremental(
        req([{ id: 'c1', type: 'DIRECTORY', name: 'n', parentId: 'd1' }], ['c1']),
        limits,
        lookup(stored),
      ),
    );
    expect(problems.map((p) => p.code).sort()).toEqual(['duplicate_id', 'type_change']);
  });

  it('requires parentId on every upsert', async () => {
    const problems = await problemsOf(
      planIncremental(req([{ id: 'n', type: 'CASE', name: 'n' }]), limits, lookup(stored)),
    );
    expect(problems.map((p) => p.code)).toContain('missing_parent');
  });

  it('passes deletes through once each', async () => {
    const plan = await planIncremental(req([], ['c1', 'd1']), limits, lookup(stored));
    expect(plan.deletes).toEqual(['c1', 'd1']);
  });

  // A stored tree root{a{a1}, b{n3}}, and X at the top.
  const moving = {
    X: { type: 'DIRECTORY', path: '/X', level: 1, position: 1, deleted: false },
    root: { type: 'DIRECTORY', path: '/root', level: 1, position: 0, deleted: false },
    a: { type: 'DIRECTORY', path: '/root/a', level: 2, position: 0, deleted: false },
    a1: { type: 'DIRECTORY', path: '/root/a/a1', level: 3, position: 0, deleted: false },
    b: { type: 'DIRECTORY', path: '/root/b', level: 2, position: 1, deleted: false },
    n3: { type: 'DIRECTORY', path: '/root/b/n3', level: 3, position: 0, deleted: false },
  } as const satisfies Record<string, Known>;

  it('finds a cycle made by two moves in one request', async () => {
    const problems = await problemsOf(
      planIncremental(
        req([
          { id: 'b', type: 'DIRECTORY', name: 'B', parentId: 'a1' },
          { id: 'a', type: 'DIRECTORY', name: 'A', parentId: 'n3' },
        ]),
        limits,
        lookup(moving),
      ),
    );
    expect(problems.map((p) => `${p.path}:${p.code}`)).toEqual([
      'upserts[0].parentId:cycle',
      'upserts[1].parentId:cycle',
    ]);
  });

  it("places a node under a stored parent at that parent's new place when the request moves it", async () => {
    const plan = await planIncremental(
      req([
        { id: 'b', type: 'DIRECTORY', name: 'B', parentId: 'a1' },
        { id: 'a', type: 'DIRECTORY', name: 'A', parentId: 'X' },
      ]),
      limits,
      lookup(moving),
    );
    expect(plan.upserts.map((n) => [n.id, n.path, n.level])).toEqual([
      ['a', '/X/a', 2],
      ['b', '/X/a/a1/b', 4],
    ]);
  });

  it('puts a node moved to another parent last there, unless it names a position', async () => {
    const plan = await planIncremental(
      req([{ id: 'n3', type: 'DIRECTORY', name: 'n3', parentId: 'a' }]),
      limits,
      lookup(moving, { a: 7 }),
    );
    expect(plan.upserts[0]).toMatchObject({ parentId: 'a', position: 8 });
  });

  it('refuses a move that takes a stored subtree past the depth or path limits', async () => {
    const store: TreeLookup = {
      ...lookup(moving),
      subtreeExtents: async (paths) => new Map(paths.map((p) => [p, { maxLevel: 5, maxPathLength: 2997 }])),
    };
    const problems = await problemsOf(
      planIncremental(req([{ id: 'b', type: 'DIRECTORY', name: 'B', parentId: 'a1' }]), limits, store),
    );
    expect(problems.map((p) => p.code).sort()).toEqual(['path_too_long', 'too_deep']);
  });

  it('refuses deletes of ids the source never had, and counts deletes against the node limit', async () => {
    const unknown = await problemsOf(planIncremental(req([], ['c1', 'ghost']), limits, lookup(stored)));
    expect(unknown).toMatchObject([{ path: 'deletes[1]', code: 'not_found' }]);
    // Deleting what is already deleted is a no-op, not an error.
    expect((await planIncremental(req([], ['gone']), limits, lookup(stored))).deletes).toEqual(['gone']);
    const many = Array.from({ length: limits.maxNodes + 1 }, (_, i) => `x${i}`);
    const tooMany = await problemsOf(planIncremental(req([], many), limits, lookup(stored)));
    expect(tooMany.map((p) => p.code)).toContain('too_many_nodes');
  });

  it('refuses nested placement fields that contradict the tree', async () => {
    const problems = await problemsOf(
      planIncremental(
        req([
          {
            id: 'n',
            type: 'DIRECTORY',
            name: 'n',
            parentId: 'd1',
            children: [
              { id: 'k1', type: 'CASE', name: 'k1', parentId: 'n' },
              { id: 'k2', type: 'CASE', name: 'k2', parentId: 'root' },
              { id: 'k3', type: 'CASE', name: 'k3', position: 4 },
            ],
          },
        ]),
        limits,
        lookup(stored),
      ),
    );
    expect(problems.map((p) => `${p.path}:${p.code}`)).toEqual([
      'upserts[0].children[1].parentId:conflicting_parent',
      'upserts[0].children[2].position:unexpected_field',
    ]);
  });

  it('lists the problems of an upsert whose parent cannot be found too', async () => {
    const problems = await problemsOf(
      planIncremental(
        req([{ id: 'a', type: 'FOLDER', name: '', parentId: 'nowhere' }]),
        limits,
        lookup(stored),
      ),
    );
    expect(problems.map((p) => p.path).sort()).toEqual(
      ['upserts[0].name', 'upserts[0].parentId', 'upserts[0].type'].sort(),
    );
  });
});
