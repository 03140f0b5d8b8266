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
});
