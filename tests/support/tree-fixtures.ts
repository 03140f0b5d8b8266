/** Builders of input trees for tests and benchmarks. */
export interface InNode {
  id: string;
  type: 'DIRECTORY' | 'CASE';
  name: string;
  children?: InNode[];
  content?: {
    description?: string;
    preconditions?: string;
    steps?: { action: string; expected?: string }[];
    expectedResults?: string;
  };
  metadata?: { tags?: string[]; priority?: string };
}

export const dir = (id: string, name: string, children: InNode[] = []): InNode => ({
  id,
  type: 'DIRECTORY',
  name,
  children,
});
export const kase = (id: string, name: string, description = `about ${name}`): InNode => ({
  id,
  type: 'CASE',
  name,
  content: { description, steps: [{ action: `do ${name}`, expected: 'it works' }], expectedResults: 'ok' },
  metadata: { tags: ['t'], priority: 'P1' },
});

/** A small tree with every kind of node the scenarios move, rename, change and delete. */
export function sampleTree(): InNode {
  return dir('root', 'Root 🌳', [
    dir('a', 'Alpha', [
      kase('a1', 'Alpha one'),
      kase('a2', 'Alpha two'),
      dir('a-sub', 'Alpha sub', [kase('a-sub-1', '𝒜 deep case')]),
    ]),
    dir('b', 'Beta', [
      kase('b1', 'Beta one'),
      dir('b-sub', 'Beta sub', [kase('b-sub-1', 'Beta deep'), kase('b-sub-2', 'Beta deeper')]),
    ]),
    kase('top', 'Top-level case'),
  ]);
}

/** Pre-order list of [id, parentId, type, name, position] for comparing a tree with what was stored. */
export function flatten(tree: InNode | InNode[]): [string, string | null, string, string, number][] {
  const out: [string, string | null, string, string, number][] = [];
  const walk = (n: InNode, parent: string | null, pos: number) => {
    out.push([n.id, parent, n.type, n.name, pos]);
    for (const [i, c] of (n.children ?? []).entries()) walk(c, n.id, i);
  };
  for (const [i, n] of (Array.isArray(tree) ? tree : [tree]).entries()) walk(n, null, i);
  return out;
}
