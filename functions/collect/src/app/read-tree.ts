import { HttpError, notFound } from '@collect/common';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { TreeCache } from '../adapters/tree-cache.redis';
import type { TreeStore } from '../adapters/tree-store.mysql';
import { priorityOf } from '../adapters/tree-store.mysql';

export interface TreeNodeView {
  id: string;
  type: 'DIRECTORY' | 'CASE';
  name: string;
  position: number;
  status?: string;
  priority?: string | number | null;
  children?: TreeNodeView[];
  /** Set on directories at the depth cut-off that have children not returned. */
  hasMore?: boolean;
}

export interface ReadTreeDeps {
  db: Pool;
  trees: TreeStore;
  cache: TreeCache;
  maxNodes: number;
}

const BATCH = 1000;

async function childrenOf(
  db: Pool,
  tenantId: string,
  source: string,
  parentIds: string[] | null,
): Promise<Map<string | null, TreeNodeView[]>> {
  const out = new Map<string | null, TreeNodeView[]>();
  const push = (p: string | null, v: TreeNodeView) => {
    const list = out.get(p) ?? [];
    list.push(v);
    out.set(p, list);
  };
  const batches =
    parentIds === null
      ? [null]
      : Array.from({ length: Math.ceil(parentIds.length / BATCH) }, (_, i) =>
          parentIds.slice(i * BATCH, (i + 1) * BATCH),
        );
  for (const batch of batches) {
    const where = batch === null ? 'IS NULL' : 'IN (?)';
    const args = batch === null ? [tenantId, source] : [tenantId, source, batch];
    const [dirs] = await db.query<RowDataPacket[]>(
      `SELECT id, parent_id AS p, name, position FROM test_directory
        WHERE tenant_id = ? AND source = ? AND parent_id ${where} AND deleted = 0`,
      args,
    );
    for (const r of dirs) push(r.p, { id: r.id, type: 'DIRECTORY', name: r.name, position: r.position });
    const [cases] = await db.query<RowDataPacket[]>(
      `SELECT id, directory_id AS p, name, position, status, priority FROM test_case
        WHERE tenant_id = ? AND source = ? AND directory_id ${where} AND deleted = 0`,
      args,
    );
    for (const r of cases) {
      push(r.p, {
        id: r.id,
        type: 'CASE',
        name: r.name,
        position: r.position,
        status: r.status,
        priority: priorityOf(r.priority),
      });
    }
  }
  for (const list of out.values()) list.sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : 1));
  return out;
}

/**
 * The nested tree under `rootId` (or the top level) down to `depth` levels, read breadth-first
 * one level per query, capped at `maxNodes`. Served from the cache when warm.
 */
export async function readTree(
  deps: ReadTreeDeps,
  tenantId: string,
  q: { source: string; rootId?: string; depth: number },
): Promise<{ source: string; rootId: string | null; depth: number; tree: TreeNodeView[] }> {
  const gen = await deps.cache.generation(tenantId, q.source);
  const key = `tree\u001f${q.rootId ?? ''}\u001f${q.depth}`;
  const hit = await deps.cache.get(tenantId, q.source, gen, key);
  if (hit) return JSON.parse(hit);
  // A typo in a source must not read as an empty tree; a source emptied since reads as one.
  if (!(await deps.trees.sourceExists(deps.db, tenantId, q.source)))
    throw new HttpError(
      404,
      'SOURCE_NOT_FOUND',
      `no source "${q.source}": nothing was ever imported or collected into it`,
      {
        source: q.source,
      },
    );

  let roots: TreeNodeView[];
  if (q.rootId) {
    const found = (await deps.trees.findByIds(deps.db, tenantId, q.source, [q.rootId])).get(q.rootId);
    if (!found || found.deleted) throw notFound(`node "${q.rootId}" in source "${q.source}"`);
    roots = [
      found.type === 'CASE'
        ? {
            id: found.id,
            type: 'CASE',
            name: found.name,
            position: found.position,
            status: found.status,
            priority: found.priority ?? null,
          }
        : { id: found.id, type: 'DIRECTORY', name: found.name, position: found.position },
    ];
  } else {
    roots = (await childrenOf(deps.db, tenantId, q.source, null)).get(null) ?? [];
  }
  let count = roots.length;
  let frontier = roots.filter((n) => n.type === 'DIRECTORY');
  for (let level = 1; frontier.length > 0; level += 1) {
    const kids = await childrenOf(
      deps.db,
      tenantId,
      q.source,
      frontier.map((n) => n.id),
    );
    const next: TreeNodeView[] = [];
    for (const dir of frontier) {
      const list = kids.get(dir.id) ?? [];
      if (level >= q.depth) {
        if (list.length > 0) dir.hasMore = true;
        continue;
      }
      dir.children = list;
      count += list.length;
      for (const c of list) if (c.type === 'DIRECTORY') next.push(c);
    }
    if (count > deps.maxNodes) {
      throw new HttpError(
        422,
        'TREE_TOO_LARGE',
        `the tree has more than ${deps.maxNodes} nodes at this depth; ask for a smaller depth or a rootId`,
        {
          maxNodes: deps.maxNodes,
        },
      );
    }
    if (level >= q.depth) break;
    frontier = next;
  }
  const result = { source: q.source, rootId: q.rootId ?? null, depth: q.depth, tree: roots };
  await deps.cache.set(tenantId, q.source, gen, key, JSON.stringify(result));
  return result;
}
