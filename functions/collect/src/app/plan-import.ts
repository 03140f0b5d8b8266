import { badRequest, type Problem, ProblemList } from '@collect/common';
import type { FlatNode, ImportRequest } from '../schemas';
import { type Anchor, hashAndSerialize, newWalkState, type TreeLimits, walkSubtree } from './tree-walk';

/** What the store must answer for an incremental import to be planned. */
export interface TreeLookup {
  findByIds(ids: string[]): Promise<
    Map<
      string,
      {
        type: 'DIRECTORY' | 'CASE';
        name?: string;
        path: string;
        level: number;
        position: number;
        deleted: boolean;
      }
    >
  >;
  maxChildPositions(parentIds: (string | null)[]): Promise<Map<string | null, number>>;
  /** Deepest level and longest path under each directory path (moves must stay in the limits). */
  subtreeExtents?(paths: string[]): Promise<Map<string, { maxLevel: number; maxPathLength: number }>>;
}

export interface ImportPlan {
  upserts: FlatNode[];
  /** The JSON text of each upsert, same index (serialised once, while hashing). */
  texts?: string[];
  deletes: string[];
  /** Where in the request each upserted node came from (its top-level entry), for problems. */
  origin?: Map<string, string>;
}

export function fail(problems: ProblemList): never {
  const more = problems.total > problems.items.length ? ` (first ${problems.items.length} listed)` : '';
  throw badRequest(`the import has ${problems.total} problem(s)${more}`, problems.items as Problem[]);
}

/** FULL: the whole tree, one or several top-level nodes. Pure: no store is consulted. */
export function planFull(tree: unknown, limits: TreeLimits): ImportPlan {
  const problems = new ProblemList();
  const texts: string[] = [];
  const upserts = walkTopLevel(tree, 'tree', limits, problems, false, texts);
  if (problems.total > 0) fail(problems);
  return { upserts, texts, deletes: [] };
}

/** Walks a node or an array of nodes, each placed at the top level. */
function walkTopLevel(
  value: unknown,
  field: string,
  limits: TreeLimits,
  problems: ProblemList,
  allowParentFields: boolean,
  texts?: string[],
): FlatNode[] {
  const roots = Array.isArray(value) ? value : [value];
  const state = newWalkState();
  const out: FlatNode[] = [];
  roots.forEach((root, i) => {
    const at = Array.isArray(value) ? `${field}[${i}]` : field;
    const anchor: Anchor = { parentId: null, parentPath: '', parentLevel: 0, position: i };
    walkSubtree(root, at, anchor, limits, problems, state, out, { allowParentFields, texts });
  });
  return out;
}

/**
 * The problems of the nodes themselves (shape, duplicates, cases with children, depth, size),
 * found without any store. Used when the request's envelope is invalid too, so one answer lists
 * every problem, not only the envelope's.
 */
export function nodeProblems(body: unknown, limits: TreeLimits, problems: ProblemList): void {
  if (typeof body !== 'object' || body === null) return;
  const { tree, upserts } = body as { tree?: unknown; upserts?: unknown };
  if (typeof tree === 'object' && tree !== null) walkTopLevel(tree, 'tree', limits, problems, false);
  if (Array.isArray(upserts)) walkTopLevel(upserts, 'upserts', limits, problems, true);
}

export interface IncrementalOptions {
  /** Name of the array in the request, for problem paths. */
  field?: string;
  /**
   * Parts of one import: ids are new by definition. They are not looked up (the caller's store
   * rejects a repeated id on insert); the plan's `origin` says where each node came from.
   */
  rejectKnown?: boolean;
}

interface PendingRoot {
  raw: Record<string, unknown>;
  at: string;
  id: string;
  parentId: string | null;
  position: number | undefined;
}

/**
 * INCREMENTAL: upserts (each with `parentId`, possibly with children) and deletes. Parents are
 * resolved in the request first, then in the store; a parent that exists nowhere, a parent that
 * is a case, a move under the node's own subtree, a type change and a parent being deleted are
 * all problems. Paths come from the parent's path, so every emitted node is self-contained.
 */
export async function planIncremental(
  req: Pick<Extract<ImportRequest, { mode: 'INCREMENTAL' }>, 'upserts' | 'deletes'>,
  limits: TreeLimits,
  store: TreeLookup,
  opts: IncrementalOptions = {},
): Promise<ImportPlan> {
  const field = opts.field ?? 'upserts';
  const problems = new ProblemList();
  const state = newWalkState();
  // Deletes count against the node limit too.
  state.visited = req.deletes.length;
  if (req.deletes.length > limits.maxNodes)
    problems.add('deletes', `the request has more than ${limits.maxNodes} nodes`, 'too_many_nodes');
  const roots: PendingRoot[] = [];
  req.upserts.forEach((raw, i) => {
    const at = `${field}[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.add(at, 'must be a node object', 'invalid_type');
      return;
    }
    const r = raw as Record<string, unknown>;
    if (!('parentId' in r))
      problems.add(
        `${at}.parentId`,
        'required on incremental upserts (null for top level)',
        'missing_parent',
      );
    roots.push({
      raw: r,
      at,
      id: String(r.id),
      parentId: typeof r.parentId === 'string' ? r.parentId : null,
      position: typeof r.position === 'number' ? r.position : undefined,
    });
  });
  const deleteSet = new Set<string>();
  req.deletes.forEach((id, i) => {
    if (deleteSet.has(id)) problems.add(`deletes[${i}]`, `duplicate id "${id}"`, 'duplicate_id');
    deleteSet.add(id);
  });
  if (problems.total > 0 && state.visited > limits.maxNodes) fail(problems);

  // Every id the request places, nested ones included: a stored node it moves must be placed
  // before whatever hangs under that node can be (see parentOf).
  const requestIds = idsIn(
    roots.map((r) => r.raw),
    limits.maxNodes,
  );
  const outsideParents = [...new Set(roots.map((r) => r.parentId).filter((p): p is string => p !== null))];
  // With rejectKnown the store's unique key finds repeated ids; only parents need looking up.
  const own = opts.rejectKnown ? [] : [...requestIds];
  const known = await store.findByIds([...new Set([...outsideParents, ...own, ...deleteSet])]);
  const maxPos = await store.maxChildPositions([...new Set(roots.map((r) => r.parentId))]);
  if (!opts.rejectKnown) {
    req.deletes.forEach((id, i) => {
      if (!known.has(id)) problems.add(`deletes[${i}]`, `"${id}" does not exist in this source`, 'not_found');
    });
  }

  const upserts: FlatNode[] = [];
  const texts: string[] = [];
  const nameless = new Map<string, string>();
  const placed = new Map<string, FlatNode>();
  const rootOf = new Map<string, string>();
  const nextPos = new Map<string | null, number>();

  /**
   * Where the parent of a root is once this request is applied: placed by the request, or
   * stored, its stored path rebased on the deepest ancestor the request moves. `wait` while that
   * ancestor (or the parent itself) is not placed yet; a root still waiting at the end hangs
   * under itself through the request's moves (a cycle) or under an invalid node.
   */
  const parentOf = (
    id: string,
  ): { type: FlatNode['type']; path: string; level: number } | 'wait' | 'missing' => {
    const inRequest = placed.get(id);
    if (inRequest) return inRequest;
    if (requestIds.has(id)) return 'wait';
    const stored = known.get(id);
    if (!stored || stored.deleted) return 'missing';
    if (stored.type !== 'DIRECTORY') return stored; // refused whatever its place
    const ids = stored.path.split('/');
    for (let k = ids.length - 2; k >= 1; k -= 1) {
      const ancestor = ids[k] as string;
      if (!requestIds.has(ancestor)) continue;
      const moved = placed.get(ancestor);
      if (!moved) return 'wait';
      const rest = ids.slice(k + 1);
      return { type: stored.type, path: `${moved.path}/${rest.join('/')}`, level: moved.level + rest.length };
    }
    return stored;
  };

  let pending = roots;
  while (pending.length > 0) {
    const later: PendingRoot[] = [];
    for (const r of pending) {
      const parent = r.parentId === null ? undefined : parentOf(r.parentId);
      if (parent === 'wait' || parent === 'missing') {
        later.push(r);
        continue;
      }
      if (parent && parent.type !== 'DIRECTORY') {
        problems.add(`${r.at}.parentId`, `parent "${r.parentId}" is a case`, 'parent_is_case');
        continue;
      }
      const parentPath = parent?.path ?? '';
      const ancestors = parentPath.split('/');
      if (ancestors.some((a) => deleteSet.has(a))) {
        problems.add(
          `${r.at}.parentId`,
          `parent "${r.parentId}" is deleted by this request`,
          'parent_deleted',
        );
        continue;
      }
      if (ancestors.includes(r.id)) {
        problems.add(`${r.at}.parentId`, `"${r.id}" cannot move under its own subtree`, 'cycle');
        continue;
      }
      const existing = known.get(r.id);
      const stays = existing && !existing.deleted && parentIdOfPath(existing.path) === r.parentId;
      // A node moved to another parent without a position goes last there, like a new one.
      let position = r.position ?? (stays ? existing.position : undefined);
      if (position === undefined) {
        position = nextPos.get(r.parentId) ?? (maxPos.get(r.parentId) ?? -1) + 1;
        nextPos.set(r.parentId, position + 1);
      }
      const anchor: Anchor = { parentId: r.parentId, parentPath, parentLevel: parent?.level ?? 0, position };
      const start = upserts.length;
      walkSubtree(r.raw, r.at, anchor, limits, problems, state, upserts, {
        allowParentFields: true,
        texts,
        patch: !opts.rejectKnown,
        nameless,
      });
      for (const n of upserts.slice(start)) {
        placed.set(n.id, n);
        rootOf.set(n.id, r.at);
        if (deleteSet.has(n.id)) problems.add(r.at, `"${n.id}" is both upserted and deleted`, 'duplicate_id');
      }
    }
    if (later.length === pending.length) {
      for (const r of later) {
        const missing = r.parentId !== null && parentOf(r.parentId) === 'missing';
        problems.add(
          `${r.at}.parentId`,
          missing
            ? `parent "${r.parentId}" exists nowhere`
            : `parent "${r.parentId}" is part of a cycle or invalid in this request`,
          missing ? 'parent_not_found' : 'cycle',
        );
        // Its own problems are listed too, though it cannot be placed.
        const anchor: Anchor = { parentId: r.parentId, parentPath: '', parentLevel: 0, position: 0 };
        walkSubtree(r.raw, r.at, anchor, limits, problems, state, [], {
          allowParentFields: true,
          patch: !opts.rejectKnown,
        });
      }
      break;
    }
    pending = later;
  }
  if (!opts.rejectKnown) {
    for (const n of upserts) {
      const before = known.get(n.id);
      if (before && !before.deleted && before.type !== n.type) {
        const at = rootOf.get(n.id) ?? field;
        problems.add(
          at,
          `"${n.id}" is a ${before.type.toLowerCase()}; its type cannot change`,
          'type_change',
        );
      }
    }
    await movedSubtreeProblems(upserts, known, store, limits, rootOf, problems);
    keepStoredNames(upserts, texts, known, nameless, problems);
  }
  if (problems.total > 0) fail(problems);
  return { upserts, texts, deletes: [...deleteSet], origin: rootOf };
}

/**
 * An upsert without a name keeps the stored node's (the walk left it ''): filled in here, with
 * the node's text made again. A new node needs a name.
 */
function keepStoredNames(
  upserts: FlatNode[],
  texts: string[],
  known: Awaited<ReturnType<TreeLookup['findByIds']>>,
  nameless: Map<string, string>,
  problems: ProblemList,
): void {
  upserts.forEach((n, i) => {
    if (n.name !== '') return;
    const stored = known.get(n.id);
    if (!stored || stored.deleted || !stored.name) {
      problems.add(
        `${nameless.get(n.id) ?? 'upserts'}.name`,
        `required for a new node ("${n.id}")`,
        'missing_name',
      );
      return;
    }
    const { node, json } = hashAndSerialize({ ...n, name: stored.name });
    upserts[i] = node;
    texts[i] = json;
  });
}

/** '/a/b/c' → 'b'; '/c' → null. */
const parentIdOfPath = (path: string): string | null => path.split('/').at(-2) || null;

/** The ids of raw subtrees (roots and nested), without validating them; at most `max` + 1. */
function idsIn(raws: unknown[], max: number): Set<string> {
  const ids = new Set<string>();
  const stack = [...raws];
  while (stack.length > 0 && ids.size <= max) {
    const raw = stack.pop() as { id?: unknown; children?: unknown } | null;
    if (typeof raw !== 'object' || raw === null) continue;
    if (typeof raw.id === 'string') ids.add(raw.id);
    if (Array.isArray(raw.children)) stack.push(...raw.children);
  }
  return ids;
}

/**
 * A stored directory moved elsewhere takes its stored subtree along: the deepest level and the
 * longest path under it must stay within the limits at the new place too.
 */
async function movedSubtreeProblems(
  upserts: FlatNode[],
  known: Awaited<ReturnType<TreeLookup['findByIds']>>,
  store: TreeLookup,
  limits: TreeLimits,
  rootOf: Map<string, string>,
  problems: ProblemList,
): Promise<void> {
  const moved = upserts.filter((n) => {
    const before = known.get(n.id);
    return n.type === 'DIRECTORY' && before && !before.deleted && before.path !== n.path;
  });
  if (moved.length === 0 || !store.subtreeExtents) return;
  const extents = await store.subtreeExtents(moved.map((n) => known.get(n.id)?.path as string));
  for (const n of moved) {
    const before = known.get(n.id);
    const extent = before && extents.get(before.path);
    if (!before || !extent) continue;
    const at = rootOf.get(n.id) ?? 'upserts';
    if (extent.maxLevel + n.level - before.level > limits.maxDepth)
      problems.add(
        at,
        `moving "${n.id}" nests its subtree deeper than ${limits.maxDepth} levels`,
        'too_deep',
      );
    if (extent.maxPathLength + n.path.length - before.path.length > 3000)
      problems.add(at, `moving "${n.id}" makes paths under it longer than 3000 characters`, 'path_too_long');
  }
}
