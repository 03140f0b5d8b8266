import { badRequest, type Problem } from '@collect/common';
import type { FlatNode, ImportRequest } from '../schemas';
import { type Anchor, ProblemList, type TreeLimits, walkSubtree } from './tree-walk';

/** What the store must answer for an incremental import to be planned. */
export interface TreeLookup {
  findByIds(
    ids: string[],
  ): Promise<
    Map<
      string,
      { type: 'DIRECTORY' | 'CASE'; path: string; level: number; position: number; deleted: boolean }
    >
  >;
  maxChildPositions(parentIds: (string | null)[]): Promise<Map<string | null, number>>;
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
  const seen = new Set<string>();
  const out: FlatNode[] = [];
  roots.forEach((root, i) => {
    const at = Array.isArray(value) ? `${field}[${i}]` : field;
    const anchor: Anchor = { parentId: null, parentPath: '', parentLevel: 0, position: i };
    walkSubtree(root, at, anchor, limits, problems, seen, out, { allowParentFields, texts });
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

  const outsideParents = [...new Set(roots.map((r) => r.parentId).filter((p): p is string => p !== null))];
  // With rejectKnown the store's unique key finds repeated ids; only parents need looking up.
  const own = opts.rejectKnown ? [] : roots.map((r) => r.id);
  const known = await store.findByIds([...new Set([...outsideParents, ...own, ...deleteSet])]);
  const maxPos = await store.maxChildPositions([...new Set(roots.map((r) => r.parentId))]);

  const rootIds = new Set(roots.map((r) => r.id));
  const upserts: FlatNode[] = [];
  const texts: string[] = [];
  const seen = new Set<string>();
  const placed = new Map<string, FlatNode>();
  const rootOf = new Map<string, string>();
  const nextPos = new Map<string | null, number>();
  let pending = roots;
  // Resolve roots whose parent is known; repeat while progress is made (parents inside the request).
  while (pending.length > 0) {
    const later: PendingRoot[] = [];
    for (const r of pending) {
      const inRequest = r.parentId === null ? undefined : placed.get(r.parentId);
      const stored = r.parentId === null ? undefined : known.get(r.parentId);
      if (r.parentId !== null && !inRequest && !(stored && !stored.deleted && !rootIds.has(r.parentId))) {
        later.push(r);
        continue;
      }
      const parent =
        inRequest ?? (stored ? { type: stored.type, path: stored.path, level: stored.level } : undefined);
      if (parent && parent.type !== 'DIRECTORY') {
        problems.add(`${r.at}.parentId`, `parent "${r.parentId}" is a case`, 'parent_is_case');
        continue;
      }
      const parentPath = parent?.path ?? '';
      if (
        r.parentId !== null &&
        (deleteSet.has(r.parentId) || [...deleteSet].some((d) => parentPath.includes(`/${d}/`)))
      ) {
        problems.add(
          `${r.at}.parentId`,
          `parent "${r.parentId}" is deleted by this request`,
          'parent_deleted',
        );
        continue;
      }
      if (parentPath.split('/').includes(r.id)) {
        problems.add(`${r.at}.parentId`, `"${r.id}" cannot move under its own subtree`, 'cycle');
        continue;
      }
      const existing = known.get(r.id);
      let position = r.position ?? (existing && !existing.deleted ? existing.position : undefined);
      if (position === undefined) {
        position = nextPos.get(r.parentId) ?? (maxPos.get(r.parentId) ?? -1) + 1;
        nextPos.set(r.parentId, position + 1);
      }
      const anchor: Anchor = { parentId: r.parentId, parentPath, parentLevel: parent?.level ?? 0, position };
      const start = upserts.length;
      walkSubtree(r.raw, r.at, anchor, limits, problems, seen, upserts, { allowParentFields: true, texts });
      for (const n of upserts.slice(start)) {
        placed.set(n.id, n);
        rootOf.set(n.id, r.at);
        if (deleteSet.has(n.id)) problems.add(r.at, `"${n.id}" is both upserted and deleted`, 'duplicate_id');
      }
    }
    if (later.length === pending.length) {
      for (const r of later) {
        const inCycle = r.parentId !== null && rootIds.has(r.parentId);
        problems.add(
          `${r.at}.parentId`,
          inCycle
            ? `parent "${r.parentId}" is part of a cycle or invalid`
            : `parent "${r.parentId}" exists nowhere`,
          inCycle ? 'cycle' : 'parent_not_found',
        );
      }
      break;
    }
    pending = later;
  }
  if (!opts.rejectKnown) {
    // Nested nodes were not looked up before the walk: check every emitted id against the store.
    const asked = new Set([...outsideParents, ...rootIds, ...deleteSet]);
    const more = await store.findByIds(upserts.map((n) => n.id).filter((id) => !asked.has(id)));
    for (const n of upserts) {
      const before = known.get(n.id) ?? more.get(n.id);
      if (before && !before.deleted && before.type !== n.type) {
        const at = rootOf.get(n.id) ?? field;
        problems.add(
          at,
          `"${n.id}" is a ${before.type.toLowerCase()}; its type cannot change`,
          'type_change',
        );
      }
    }
  }
  if (problems.total > 0) fail(problems);
  return { upserts, texts, deletes: [...deleteSet], origin: rootOf };
}
