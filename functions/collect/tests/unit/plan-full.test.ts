import { HttpError, ProblemList } from '@collect/common';
import { describe, expect, it } from 'vitest';
import { dir, kase } from '../../../../tests/support/tree-fixtures';
import { nodeProblems, planFull } from '../../src/app/plan-import';
import { chunkNodes, encodeMessage, type PlannedMessage, shardMessages } from '../../src/app/submit-import';
import { contentHash, hashAndSerialize } from '../../src/app/tree-walk';

const limits = { maxNodes: 1000, maxDepth: 5 };

function problemsOf(fn: () => unknown): { path: string; code?: string }[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError && err.status === 400)
      return err.details as { path: string; code?: string }[];
    throw err;
  }
  throw new Error('expected a 400');
}

const tree = {
  id: 'root',
  type: 'DIRECTORY',
  name: 'Root',
  children: [
    { id: 'd1', type: 'DIRECTORY', name: 'Dir 1', children: [{ id: 'c1', type: 'CASE', name: 'Case 1' }] },
    {
      id: 'c2',
      type: 'CASE',
      name: 'Case 2',
      content: { description: 'x', steps: [{ action: 'a', expected: 'b' }] },
    },
  ],
};

describe('planFull', () => {
  it('flattens parents before children with paths, levels and positions', () => {
    const plan = planFull(tree, limits);
    expect(plan.upserts.map((n) => [n.id, n.parentId, n.path, n.level, n.position])).toEqual([
      ['root', null, '/root', 1, 0],
      ['d1', 'root', '/root/d1', 2, 0],
      ['c1', 'd1', '/root/d1/c1', 3, 0],
      ['c2', 'root', '/root/c2', 2, 1],
    ]);
  });

  it('accepts several top-level nodes', () => {
    const plan = planFull([tree.children[0], tree.children[1]], limits);
    expect(plan.upserts.filter((n) => n.parentId === null).map((n) => [n.id, n.position])).toEqual([
      ['d1', 0],
      ['c2', 1],
    ]);
  });

  it('gives equal content equal hashes and any content change a new hash', () => {
    const a = planFull(tree, limits).upserts.find((n) => n.id === 'c2');
    const b = planFull(structuredClone(tree), limits).upserts.find((n) => n.id === 'c2');
    const changed = structuredClone(tree);
    (changed.children[1] as { content: { description: string } }).content.description = 'y';
    const c = planFull(changed, limits).upserts.find((n) => n.id === 'c2');
    expect(a?.hash).toBe(b?.hash);
    expect(c?.hash).not.toBe(a?.hash);
  });

  it('keeps 4-byte characters in names exactly', () => {
    const name = '𝌆 emoji 😀 and 漢字';
    const plan = planFull({ id: 'x', type: 'CASE', name }, limits);
    expect(plan.upserts[0]?.name).toBe(name);
  });

  it('lists every problem of the tree in one error', () => {
    const bad = {
      id: 'root',
      type: 'DIRECTORY',
      name: 'Root',
      children: [
        { id: 'dup', type: 'CASE', name: 'A' },
        { id: 'dup', type: 'CASE', name: 'B' },
        { id: 'c', type: 'CASE', name: 'C', children: [{ id: 'c-child', type: 'CASE', name: 'x' }] },
        { id: 'u', type: 'FOLDER', name: 'U' },
        { id: 'e', type: 'CASE', name: '   ' },
        { id: 'l', type: 'CASE', name: 'x'.repeat(256) },
        { id: 'bad/id', type: 'CASE', name: 'slash' },
      ],
    };
    const problems = problemsOf(() => planFull(bad, limits));
    const at = problems.map((p) => p.path);
    expect(problems.find((p) => p.code === 'duplicate_id')?.path).toBe('tree.children[1].id');
    expect(problems.find((p) => p.code === 'case_with_children')?.path).toBe('tree.children[2].children');
    expect(at).toContain('tree.children[3].type');
    expect(at).toContain('tree.children[4].name');
    expect(at).toContain('tree.children[5].name');
    expect(at).toContain('tree.children[6].id');
  });

  it('refuses unknown keys, unpaired surrogates, "." and ".." ids and placement fields', () => {
    const problems = problemsOf(() =>
      planFull(
        [
          { id: 'r', type: 'DIRECTORY', name: 'R', childern: [] },
          { id: 's', type: 'CASE', name: 'a\ud800b' },
          { id: '.', type: 'CASE', name: 'dot' },
          { id: '..', type: 'CASE', name: 'dots' },
          { id: 'p', type: 'CASE', name: 'p', parentId: null, position: 3 },
          { id: 'k', type: 'CASE', name: 'k', content: { steps: [{ action: 'x', expectd: 'y' }] } },
        ],
        limits,
      ),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'tree[0].childern',
      'tree[1].name',
      'tree[2].id',
      'tree[3].id',
      'tree[4].position',
      'tree[4].parentId',
      'tree[5].content.steps[0].expectd',
    ]);
  });

  it('checks the children of a node with a problem, and stops counting at the node limit', () => {
    const problems = problemsOf(() =>
      planFull(
        {
          id: 'd',
          type: 'DIRECTORY',
          name: 'd',
          content: {},
          children: [{ id: 'bad/id', type: 'CASE', name: '' }],
        },
        limits,
      ),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'tree.content',
      'tree.children[0].id',
      'tree.children[0].name',
    ]);
    const flood = Array.from({ length: limits.maxNodes * 3 }, () => 0);
    const err = (() => {
      try {
        planFull(flood, limits);
      } catch (e) {
        return e as HttpError;
      }
    })();
    expect(err?.details).toHaveLength(1000);
    expect(err?.message).toMatch(/has 1001 problem/);
  });

  it('stops at the depth limit on invalid nodes too, and refuses a node too large for a shard', () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i += 1) deep = { children: [deep] };
    const problems = problemsOf(() => planFull(deep, limits));
    expect(problems.filter((p) => p.code === 'too_deep')).toHaveLength(1);
    expect(problems.length).toBeLessThanOrEqual(limits.maxDepth * 4);
    const huge = { id: 'h', type: 'CASE', name: 'h', content: { steps: [] as { action: string }[] } };
    for (let i = 0; i < 20; i += 1) huge.content.steps.push({ action: 'x'.repeat(60_000) });
    expect(problemsOf(() => planFull(huge, limits)).map((p) => p.code)).toEqual(['node_too_large']);
    expect(problemsOf(() => planFull({ id: 'tree', type: 'CASE', name: 't' }, limits))[0]?.path).toBe(
      'tree.id',
    );
  });

  it('walks the children of an invalid node too', () => {
    const problems = problemsOf(() =>
      planFull(
        { id: 'r', type: 'DIRECTORY', name: '', children: [{ id: 'k', type: 'CASE', name: '' }] },
        limits,
      ),
    );
    expect(problems.map((p) => p.path)).toEqual(['tree.name', 'tree.children[0].name']);
  });

  it('rejects a tree deeper than the limit', () => {
    let node: Record<string, unknown> = { id: 'leaf', type: 'CASE', name: 'leaf' };
    for (let i = 0; i < 6; i += 1) node = { id: `d${i}`, type: 'DIRECTORY', name: `d${i}`, children: [node] };
    expect(problemsOf(() => planFull(node, limits)).map((p) => p.code)).toContain('too_deep');
  });

  it('survives a hostile nesting depth without overflowing the stack', () => {
    let node: Record<string, unknown> = { id: 'leaf', type: 'CASE', name: 'leaf' };
    for (let i = 0; i < 50_000; i += 1)
      node = { id: `d${i}`, type: 'DIRECTORY', name: 'd', children: [node] };
    expect(problemsOf(() => planFull(node, limits)).map((p) => p.code)).toContain('too_deep');
  });

  it('rejects more nodes than the limit', () => {
    const children = Array.from({ length: 20 }, (_, i) => ({ id: `c${i}`, type: 'CASE', name: 'c' }));
    const problems = problemsOf(() =>
      planFull({ id: 'r', type: 'DIRECTORY', name: 'r', children }, { maxNodes: 10, maxDepth: 5 }),
    );
    expect(problems.map((p) => p.code)).toContain('too_many_nodes');
  });
});

describe('encodeMessage', () => {
  it('writes the same JSON as serialising the whole message', () => {
    const upserts = planFull(dir('r', 'r 😀', [kase('c', 'c')]), { maxNodes: 10, maxDepth: 3 }).upserts;
    const [first] = [...chunkNodes(upserts, 10)];
    const m = {
      taskId: 't',
      shardNo: 0,
      tenantId: 'd',
      source: 's',
      mode: 'FULL' as const,
      version: 2,
      deletes: [],
    };
    const planned = { ...m, upserts, upsertsJson: first?.json };
    expect(JSON.parse(encodeMessage(planned).toString('utf8'))).toEqual({ ...m, upserts });
    expect(JSON.parse(encodeMessage({ ...m, upserts }).toString('utf8'))).toEqual({ ...m, upserts });
  });

  it('carries the texts made while planning, equal to the nodes they stand for', () => {
    const plan = planFull(dir('r', 'r 😀', [kase('c', 'c'), kase('q', 'say "hi" \\ \u2028')]), limits);
    const [m] = shardMessages(
      { taskId: 't', tenantId: 'd', source: 's', mode: 'FULL', version: 1 },
      0,
      plan,
      10,
    );
    const decoded = JSON.parse(encodeMessage(m as PlannedMessage).toString('utf8'));
    expect(decoded.upserts).toEqual(plan.upserts);
    expect(plan.texts).toHaveLength(plan.upserts.length);
  });
});

describe('hashAndSerialize', () => {
  const cases = [
    { id: 'a', type: 'DIRECTORY', parentId: null, name: 'Dir 𝒜', path: '/a', level: 1, position: 0 },
    {
      id: 'b"\\',
      type: 'CASE',
      parentId: 'a',
      name: 'line\nbreak \u2028 "q"',
      path: '/a/b',
      level: 2,
      position: 3,
      content: { description: 'ü', steps: [{ action: 'x' }] },
    },
    {
      id: 'c',
      type: 'CASE',
      parentId: 'a',
      name: 'c',
      path: '/a/c',
      level: 2,
      position: 4,
      metadata: { tags: ['t'], priority: 'P1' },
    },
  ] as const;

  it.each(cases)('hashes like contentHash and writes the node as JSON ($id)', (n) => {
    const { node, json } = hashAndSerialize(n);
    expect(node.hash).toBe(contentHash(n));
    expect(JSON.parse(json)).toEqual(node);
    expect(node).toEqual({ ...n, hash: node.hash });
  });
});

describe('chunkNodes', () => {
  const nodes = planFull(
    {
      id: 'r',
      type: 'DIRECTORY',
      name: 'r',
      children: Array.from({ length: 25 }, (_, i) => ({ id: `c${i}`, type: 'CASE', name: 'c' })),
    },
    { maxNodes: 100, maxDepth: 3 },
  ).upserts;

  it('cuts by node count', () => {
    expect([...chunkNodes(nodes, 10)].map((c) => c.nodes.length)).toEqual([10, 10, 6]);
  });

  it('cuts by size too, never leaving a chunk empty', () => {
    const chunks = [...chunkNodes(nodes, 100, 1)];
    expect(chunks).toHaveLength(26);
    expect(chunks.every((c) => c.nodes.length === 1)).toBe(true);
  });
});

describe('nodeProblems', () => {
  it("finds the nodes' problems without a valid envelope, for trees and upserts", () => {
    const problems = new ProblemList();
    nodeProblems({ source: 'bad source', tree: [kase('a', ''), kase('a', 'dup')] }, limits, problems);
    nodeProblems({ upserts: [null, { ...kase('u', 'u'), type: 'X' }] }, limits, problems);
    expect(problems.items.map((p) => p.path)).toEqual([
      'tree[0].name',
      'tree[1].id',
      'upserts[0]',
      'upserts[1].type',
    ]);
  });

  it('ignores a body with no nodes', () => {
    const problems = new ProblemList();
    nodeProblems(42, limits, problems);
    nodeProblems({ tree: 'x' }, limits, problems);
    expect(problems.total).toBe(0);
  });
});
