import { digest, type ProblemList } from '@collect/common';
import { type FlatNode, type InputNode, nodeSchema, patchNodeSchema } from '../schemas';

export interface TreeLimits {
  maxNodes: number;
  maxDepth: number;
}

/** Where a walked subtree hangs: under a known directory (path, level) or at the top. */
export interface Anchor {
  parentId: string | null;
  parentPath: string;
  parentLevel: number;
  /** Position of the subtree's root among its siblings. */
  position: number;
}

/** Largest node, as JSON: one shard message, with its envelope, stays far below Lambda's 6 MB. */
export const MAX_NODE_CHARS = 1024 * 1024;

/**
 * Digest of what MongoDB stores for a node (its type, content and metadata). Its name and place
 * are MySQL columns, compared there: a rename is not a content change (see the diff).
 */
export function contentHash(n: Pick<InputNode, 'type' | 'content' | 'metadata'>): string {
  return digest(JSON.stringify([n.type, n.content ?? null, n.metadata ?? null]));
}

/**
 * A flattened node with its content hash, and its JSON text for a shard message, from one
 * serialisation of its content: the hash input is built from the same fragments, and is the very
 * text `contentHash` digests (JSON.stringify joins array items with bare commas). This saves a
 * second stringification of every case's content, the API's largest single cost per node.
 */
export function hashAndSerialize(n: Omit<FlatNode, 'hash'>): { node: FlatNode; json: string } {
  const type = JSON.stringify(n.type);
  const name = JSON.stringify(n.name);
  const content = n.content === undefined ? undefined : JSON.stringify(n.content);
  const metadata = n.metadata === undefined ? undefined : JSON.stringify(n.metadata);
  const hash = digest(`[${type},${content ?? 'null'},${metadata ?? 'null'}]`);
  const json =
    `{"id":${JSON.stringify(n.id)},"type":${type},"parentId":${JSON.stringify(n.parentId)},"name":${name},` +
    `"path":${JSON.stringify(n.path)},"level":${n.level},"position":${n.position},"hash":"${hash}"` +
    `${content === undefined ? '' : `,"content":${content}`}${metadata === undefined ? '' : `,"metadata":${metadata}`}` +
    `${n.patch ? ',"patch":true' : ''}}`;
  return { node: { ...n, hash }, json };
}

/** Shared by the walks of one request: ids seen (duplicates span subtrees) and entries visited. */
export interface WalkState {
  seen: Set<string>;
  visited: number;
}

export const newWalkState = (): WalkState => ({ seen: new Set(), visited: 0 });

interface Frame {
  raw: unknown;
  at: string;
  parentId: string | null;
  parentPath: string;
  depth: number;
  position: number;
}

/**
 * Walks client subtrees iteratively (depth-first, pre-order, so parents come before children),
 * validating each node and collecting every problem instead of stopping at the first.
 * Emits flattened nodes with paths, levels and positions (and, into `opts.texts`, the JSON text
 * of each, at the same index). `state` spans calls so duplicate ids across several subtrees of
 * one request are caught and every entry counts against the node limit.
 */
export function walkSubtree(
  root: unknown,
  rootPath: string,
  anchor: Anchor,
  limits: TreeLimits,
  problems: ProblemList,
  state: WalkState,
  out: FlatNode[],
  opts: {
    allowParentFields: boolean;
    texts?: string[];
    patch?: boolean;
    /** Patch nodes without a name, by id: where each is in the request. */
    nameless?: Map<string, string>;
  },
): void {
  const schema = opts.patch ? patchNodeSchema : nodeSchema;
  const stack: Frame[] = [
    {
      raw: root,
      at: rootPath,
      parentId: anchor.parentId,
      parentPath: anchor.parentPath,
      depth: anchor.parentLevel + 1,
      position: anchor.position,
    },
  ];
  const pushChildren = (f: Frame, children: unknown[], parentId: string, parentPath: string) => {
    for (let i = children.length - 1; i >= 0; i -= 1) {
      stack.push({
        raw: children[i],
        at: `${f.at}.children[${i}]`,
        parentId,
        parentPath,
        depth: f.depth + 1,
        position: i,
      });
    }
  };
  while (stack.length > 0 && state.visited <= limits.maxNodes) {
    const f = stack.pop() as Frame;
    // Every entry counts, valid or not, so a hostile request cannot make the walk unbounded.
    state.visited += 1;
    if (state.visited > limits.maxNodes) {
      problems.add(f.at, `the request has more than ${limits.maxNodes} nodes`, 'too_many_nodes');
      return;
    }
    if (f.depth > limits.maxDepth) {
      // Its children are deeper still: one problem per branch is enough. Checked before anything
      // else, so a hostile nesting of invalid nodes costs no more than a valid one.
      problems.add(f.at, `nesting deeper than ${limits.maxDepth} levels`, 'too_deep');
      continue;
    }
    const parsed = schema.safeParse(f.raw);
    if (!parsed.success) {
      problems.addZod(f.at, parsed.error);
      // Keep walking what can be walked, so one request lists the problems of the whole tree.
      const raw = f.raw as { id?: unknown; children?: unknown } | null;
      const children =
        typeof raw === 'object' && raw !== null && Array.isArray(raw.children) ? raw.children : [];
      const id = typeof raw?.id === 'string' ? raw.id : '?';
      if ((raw as { type?: unknown } | null)?.type === 'CASE' && children.length > 0) {
        problems.add(`${f.at}.children`, 'a case cannot have children', 'case_with_children');
      }
      if (typeof raw?.id === 'string') state.seen.add(raw.id);
      pushChildren(f, children, id, `${f.parentPath}/${id}`);
      continue;
    }
    const node = parsed.data;
    let ok = true;
    if (state.seen.has(node.id)) {
      problems.add(`${f.at}.id`, `duplicate id "${node.id}"`, 'duplicate_id');
      ok = false;
    }
    state.seen.add(node.id);
    if (node.type === 'CASE' && node.children && node.children.length > 0) {
      problems.add(`${f.at}.children`, 'a case cannot have children', 'case_with_children');
      ok = false;
    }
    if (node.type === 'DIRECTORY' && node.content !== undefined && node.content !== null) {
      problems.add(`${f.at}.content`, 'only cases have content', 'directory_with_content');
      ok = false;
    }
    ok = placementProblems(node, f, f.at === rootPath, opts.allowParentFields, problems) && ok;
    const path = `${f.parentPath}/${node.id}`;
    if (path.length > 3000) {
      problems.add(f.at, 'path of ids longer than 3000 characters', 'path_too_long');
      ok = false;
    }
    if (ok) {
      // A patch without a name keeps the stored one: '' until the planner fills it in.
      if (node.name === undefined) opts.nameless?.set(node.id, f.at);
      const { node: flat, json } = hashAndSerialize({
        id: node.id,
        type: node.type,
        parentId: f.parentId,
        name: node.name ?? '',
        path,
        level: f.depth,
        position: f.position,
        ...(node.content !== undefined ? { content: node.content } : {}),
        ...(node.metadata !== undefined ? { metadata: node.metadata } : {}),
        ...(opts.patch ? { patch: true as const } : {}),
      });
      if (json.length > MAX_NODE_CHARS) {
        // A shard carries at least one node, and a shard must fit a Lambda invocation (6 MB).
        problems.add(f.at, `the node is larger than ${MAX_NODE_CHARS} characters of JSON`, 'node_too_large');
      } else {
        out.push(flat);
        opts.texts?.push(json);
      }
    }
    // A node with a problem is not emitted, but its children are still checked.
    pushChildren(f, node.children ?? [], node.id, path);
  }
}

/**
 * `parentId` and `position` place the root of an incremental upsert. Anywhere else the tree
 * itself places a node, so they may only repeat what the tree says (a nested `parentId` equal to
 * the actual parent); anything else is a problem rather than a silently ignored field.
 */
function placementProblems(
  node: Pick<InputNode, 'position' | 'parentId'>,
  f: Frame,
  isRoot: boolean,
  incremental: boolean,
  problems: ProblemList,
): boolean {
  let ok = true;
  if (!incremental || !isRoot) {
    if (node.position !== undefined) {
      problems.add(
        `${f.at}.position`,
        incremental
          ? 'only allowed on the upserted node itself; children are placed in their order'
          : 'not allowed in a FULL import; nodes are placed in their order',
        'unexpected_field',
      );
      ok = false;
    }
    if (node.parentId !== undefined && (!incremental || node.parentId !== f.parentId)) {
      problems.add(
        `${f.at}.parentId`,
        incremental
          ? `contradicts the node's place in the tree (its parent is "${f.parentId}")`
          : 'not allowed in a FULL import; the tree says where each node is',
        incremental ? 'conflicting_parent' : 'unexpected_field',
      );
      ok = false;
    }
  }
  return ok;
}
