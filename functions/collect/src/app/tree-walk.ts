import { digest, type Problem } from '@collect/common';
import type { z } from 'zod';
import { type FlatNode, type InputNode, nodeSchema } from '../schemas';

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

/** At most this many problems are listed; the total is always reported. */
export const MAX_LISTED_PROBLEMS = 1000;

export class ProblemList {
  readonly items: Problem[] = [];
  total = 0;
  add(path: string, message: string, code?: string): void {
    this.total += 1;
    if (this.items.length < MAX_LISTED_PROBLEMS)
      this.items.push({ path, message, ...(code ? { code } : {}) });
  }
  addZod(base: string, error: z.ZodError): void {
    for (const issue of error.issues) {
      const sub = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      const path = `${base}${sub}`.replace(/^\./, '');
      if (!this.items.some((i) => i.path === path && i.message === issue.message))
        this.add(path, issue.message, issue.code);
    }
  }
}

/** Digest of what MongoDB stores for a node; structure (parent, position) is compared in MySQL. */
export function contentHash(n: Pick<InputNode, 'type' | 'name' | 'content' | 'metadata'>): string {
  return digest(JSON.stringify([n.type, n.name, n.content ?? null, n.metadata ?? null]));
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
  const hash = digest(`[${type},${name},${content ?? 'null'},${metadata ?? 'null'}]`);
  const json =
    `{"id":${JSON.stringify(n.id)},"type":${type},"parentId":${JSON.stringify(n.parentId)},"name":${name},` +
    `"path":${JSON.stringify(n.path)},"level":${n.level},"position":${n.position},"hash":"${hash}"` +
    `${content === undefined ? '' : `,"content":${content}`}${metadata === undefined ? '' : `,"metadata":${metadata}`}}`;
  return { node: { ...n, hash }, json };
}

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
 * of each, at the same index). `seen` spans calls so duplicate ids across several subtrees of
 * one request are caught.
 */
export function walkSubtree(
  root: unknown,
  rootPath: string,
  anchor: Anchor,
  limits: TreeLimits,
  problems: ProblemList,
  seen: Set<string>,
  out: FlatNode[],
  opts: { allowParentFields: boolean; texts?: string[] },
): void {
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
  while (stack.length > 0) {
    const f = stack.pop() as Frame;
    if (seen.size + 1 > limits.maxNodes) {
      problems.add(f.at, `the request has more than ${limits.maxNodes} nodes`, 'too_many_nodes');
      return;
    }
    const parsed = nodeSchema.safeParse(f.raw);
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
      if (typeof raw?.id === 'string') seen.add(raw.id);
      for (let i = children.length - 1; i >= 0; i -= 1) {
        stack.push({
          ...f,
          raw: children[i],
          at: `${f.at}.children[${i}]`,
          parentId: id,
          parentPath: `${f.parentPath}/${id}`,
          depth: f.depth + 1,
          position: i,
        });
      }
      continue;
    }
    const node = parsed.data;
    let ok = true;
    if (seen.has(node.id)) {
      problems.add(`${f.at}.id`, `duplicate id "${node.id}"`, 'duplicate_id');
      ok = false;
    }
    seen.add(node.id);
    if (f.depth > limits.maxDepth) {
      problems.add(f.at, `nesting deeper than ${limits.maxDepth} levels`, 'too_deep');
      continue;
    }
    if (node.type === 'CASE' && node.children && node.children.length > 0) {
      problems.add(`${f.at}.children`, 'a case cannot have children', 'case_with_children');
      ok = false;
    }
    if (node.type === 'DIRECTORY' && node.content !== undefined) {
      problems.add(`${f.at}.content`, 'only cases have content', 'directory_with_content');
      ok = false;
    }
    if (!opts.allowParentFields && f.at !== rootPath) {
      if (node.parentId !== undefined)
        problems.add(`${f.at}.parentId`, 'only allowed on incremental upserts', 'unexpected_field');
    }
    const path = `${f.parentPath}/${node.id}`;
    if (path.length > 3000) {
      problems.add(f.at, 'path of ids longer than 3000 characters', 'path_too_long');
      ok = false;
    }
    if (!ok) continue;
    const { node: flat, json } = hashAndSerialize({
      id: node.id,
      type: node.type,
      parentId: f.parentId,
      name: node.name,
      path,
      level: f.depth,
      position: f.position,
      ...(node.content ? { content: node.content } : {}),
      ...(node.metadata ? { metadata: node.metadata } : {}),
    });
    out.push(flat);
    opts.texts?.push(json);
    const children = node.children ?? [];
    for (let i = children.length - 1; i >= 0; i -= 1) {
      stack.push({
        raw: children[i],
        at: `${f.at}.children[${i}]`,
        parentId: node.id,
        parentPath: path,
        depth: f.depth + 1,
        position: i,
      });
    }
  }
}
