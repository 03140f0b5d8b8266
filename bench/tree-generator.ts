import { chunk } from '@collect/core';

/**
 * A deterministic test-case tree of any size, generated lazily in parent-first batches so that
 * neither the benchmark nor the platform ever holds the whole tree: ~5 % directories in three
 * levels, the rest cases of ~1 KB (description, preconditions, 3–5 steps, tags, priority).
 */
export interface GenNode {
  id: string;
  type: 'DIRECTORY' | 'CASE';
  name: string;
  parentId: string | null;
  content?: {
    description: string;
    preconditions: string;
    steps: { action: string; expected: string }[];
    expectedResults: string;
  };
  metadata?: { tags: string[]; priority: string };
}

const WORDS =
  'login cart payment search profile order invoice refund shipping address coupon export import report admin role token session upload filter'.split(
    ' ',
  );

/** Small deterministic PRNG (mulberry32) so every run and both sides write the same records. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sentence(r: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i += 1) out.push(WORDS[Math.floor(r() * WORDS.length)] as string);
  return out.join(' ');
}

export interface TreeShape {
  directories: number;
  cases: number;
}

/** 5 % directories: e.g. 100,000 nodes = 5,000 directories + 95,000 cases. */
export function shapeFor(nodes: number): TreeShape {
  const directories = Math.max(3, Math.round(nodes * 0.05));
  return { directories, cases: nodes - directories };
}

/** Directory ids in parent-first order: 1 root, then levels of fan-out until `n` are placed. */
export function* directories(shape: TreeShape): Generator<GenNode> {
  const n = shape.directories;
  const top = Math.max(1, Math.round(Math.cbrt(n)));
  yield { id: 'd0', type: 'DIRECTORY', name: 'Root', parentId: null };
  let made = 1;
  let level: string[] = ['d0'];
  const fanOut = Math.max(2, top);
  while (made < n) {
    const next: string[] = [];
    for (const parent of level) {
      for (let i = 0; i < fanOut && made < n; i += 1) {
        const id = `d${made}`;
        made += 1;
        next.push(id);
        yield { id, type: 'DIRECTORY', name: `Suite ${id} ${WORDS[made % WORDS.length]}`, parentId: parent };
      }
    }
    level = next;
  }
}

/** Cases spread evenly over the directories, each ~1 KB of realistic content. */
export function* cases(shape: TreeShape, seed = 42): Generator<GenNode> {
  const r = rng(seed);
  for (let i = 0; i < shape.cases; i += 1) {
    const steps = 3 + Math.floor(r() * 3);
    yield {
      id: `c${i}`,
      type: 'CASE',
      name: `Case ${i}: ${sentence(r, 4)}`,
      parentId: `d${(i * 7919) % shape.directories}`,
      content: {
        description: `${sentence(r, 40)}.`,
        preconditions: `${sentence(r, 12)}.`,
        steps: Array.from({ length: steps }, () => ({ action: sentence(r, 10), expected: sentence(r, 8) })),
        expectedResults: `${sentence(r, 15)}.`,
      },
      metadata: { tags: [WORDS[i % WORDS.length] as string, 'regression'], priority: `P${i % 4}` },
    };
  }
}

/** Every node, parent-first, in batches of `size`. */
export function batches(shape: TreeShape, size: number): Generator<GenNode[]> {
  return chunk(
    (function* () {
      yield* directories(shape);
      yield* cases(shape);
    })(),
    size,
  );
}
