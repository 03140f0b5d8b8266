import { HttpError, notFound } from '@collect/common';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { TreeCache } from '../adapters/tree-cache.redis';
import type { TreeStore } from '../adapters/tree-store.mysql';
import { priorityOf, visibleArgs, visibleAt } from '../adapters/tree-store.mysql';
import type { TreeVersions } from '../adapters/tree-versions.mysql';

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
  versions: TreeVersions;
  cache: TreeCache;
  maxNodes: number;
}

const BATCH = 1000;

type Queryable = Pool | PoolConnection;

/**
 * The tree version a read answers from: the published one (0 before the first run published),
 * or `requested` when it is published and retained. 404 for a source nothing was ever imported
 * or collected into (a typo must not read as an empty tree; a source emptied since reads as
 * one), and for a version that is not readable.
 */
export async function readableVersion(
  conn: Pool | PoolConnection,
  versions: TreeVersions,
  tenantId: string,
  source: string,
  requested?: number,
): Promise<number> {
  const state = await versions.of(conn, tenantId, source);
  if (!state)
    throw new HttpError(
      404,
      'SOURCE_NOT_FOUND',
      `no source "${source}": nothing was ever imported or collected into it`,
      { source },
    );
  if (requested === undefined) return state.published;
  if (requested > state.published || !(await versions.isRetained(conn, tenantId, source, requested)))
    throw new HttpError(
      404,
      'VERSION_NOT_FOUND',
      `version ${requested} of source "${source}" is not published or no longer retained; GET /api/testcase/versions?source=${source} lists the readable ones`,
      { source, version: requested, published: state.published },
    );
  return requested;
}

/**
 * Reads through the cache at the version `q.version` names (default: the published one, as the
 * cache last noted it, else from MySQL). The rows a retained version sees never change; they
 * are only removed after the version is forgotten (TreeRetention). So a read checks, once done,
 * that its version is still readable: if it is, nothing of it was removed meanwhile and the
 * answer is whole; if not (a purge raced it), it reads again at the version readable now.
 */
export async function cachedRead<T>(
  deps: { db: Pool; versions: TreeVersions; cache: TreeCache },
  tenantId: string,
  q: { source: string; version?: number },
  key: string,
  read: (db: Queryable, version: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const version = await versionToRead(deps, tenantId, q);
    const hit = await deps.cache.get(tenantId, q.source, version, key);
    if (hit) return JSON.parse(hit);
    const result = await read(deps.db, version);
    if (await stillReadable(deps.db, deps.versions, tenantId, q.source, version)) {
      await deps.cache.set(tenantId, q.source, version, key, JSON.stringify(result));
      return result;
    }
    if (attempt >= 3) throw new Error(`version ${version} of "${q.source}" was purged during three reads`);
  }
}

async function versionToRead(
  deps: { db: Pool; versions: TreeVersions; cache: TreeCache },
  tenantId: string,
  q: { source: string; version?: number },
): Promise<number> {
  if (q.version !== undefined) return readableVersion(deps.db, deps.versions, tenantId, q.source, q.version);
  const noted = await deps.cache.published(tenantId, q.source);
  if (noted !== undefined) return noted;
  const published = await readableVersion(deps.db, deps.versions, tenantId, q.source);
  await deps.cache.notePublished(tenantId, q.source, published);
  return published;
}

/** Version 0 (nothing published yet) stays readable until a version is published. */
async function stillReadable(
  db: Pool,
  versions: TreeVersions,
  tenantId: string,
  source: string,
  version: number,
): Promise<boolean> {
  if (version > 0) return versions.isRetained(db, tenantId, source, version);
  return (await versions.of(db, tenantId, source))?.published === 0;
}

async function childrenOf(
  db: Queryable,
  tenantId: string,
  source: string,
  version: number,
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
    const args = [tenantId, source, ...(batch === null ? [] : [batch]), ...visibleArgs(version)];
    const [dirs] = await db.query<RowDataPacket[]>(
      `SELECT id, parent_id AS p, name, position FROM test_directory t
        WHERE tenant_id = ? AND source = ? AND parent_id ${where} AND deleted = 0 AND ${visibleAt('t')}`,
      args,
    );
    for (const r of dirs) push(r.p, { id: r.id, type: 'DIRECTORY', name: r.name, position: r.position });
    const [cases] = await db.query<RowDataPacket[]>(
      `SELECT id, directory_id AS p, name, position, status, priority FROM test_case t
        WHERE tenant_id = ? AND source = ? AND directory_id ${where} AND deleted = 0 AND ${visibleAt('t')}`,
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
 * The nested tree under `rootId` (or the top level) down to `depth` levels, as of the published
 * version (or `q.version`), read breadth-first one level per query, capped at `maxNodes`.
 * Served from the cache when warm.
 */
export async function readTree(
  deps: ReadTreeDeps,
  tenantId: string,
  q: { source: string; rootId?: string; depth: number; version?: number },
): Promise<{ source: string; version: number; rootId: string | null; depth: number; tree: TreeNodeView[] }> {
  const key = `tree\u001f${q.rootId ?? ''}\u001f${q.depth}`;
  return cachedRead(deps, tenantId, q, key, async (conn, version) => ({
    source: q.source,
    version,
    rootId: q.rootId ?? null,
    depth: q.depth,
    tree: await readLevels(deps, conn, tenantId, { ...q, version }),
  }));
}

async function readLevels(
  deps: ReadTreeDeps,
  conn: Queryable,
  tenantId: string,
  q: { source: string; rootId?: string; depth: number; version: number },
): Promise<TreeNodeView[]> {
  let roots: TreeNodeView[];
  if (q.rootId) {
    const found = (
      await deps.trees.findByIds(conn, tenantId, q.source, [q.rootId], undefined, q.version)
    ).get(q.rootId);
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
    roots = (await childrenOf(conn, tenantId, q.source, q.version, null)).get(null) ?? [];
  }
  let count = roots.length;
  let frontier = roots.filter((n) => n.type === 'DIRECTORY');
  for (let level = 1; frontier.length > 0; level += 1) {
    const kids = await childrenOf(
      conn,
      tenantId,
      q.source,
      q.version,
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
  return roots;
}
