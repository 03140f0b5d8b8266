import { badRequest, inReadSnapshot } from '@collect/common';
import type { Pool, PoolConnection } from 'mysql2/promise';
import type { NodeRow, NodeType, TreeStore } from '../adapters/tree-store.mysql';
import type { TreeVersions, VersionView } from '../adapters/tree-versions.mysql';
import { decodeDiffCursor, encodeDiffCursor } from '../schemas';
import { readableVersion } from './read-tree';

export interface HistoryDeps {
  db: Pool;
  trees: TreeStore;
  versions: TreeVersions;
  config: { TREE_VERSIONS_KEEP: number };
}

/** GET /api/testcase/versions: the retained versions of a source, newest first. */
export async function listVersions(
  deps: HistoryDeps,
  tenantId: string,
  source: string,
): Promise<{ source: string; published: number; keep: number; versions: VersionView[] }> {
  return inReadSnapshot(deps.db, async (conn) => {
    const published = await readableVersion(conn, deps.versions, tenantId, source);
    return {
      source,
      published,
      keep: deps.config.TREE_VERSIONS_KEEP,
      versions: await deps.versions.list(conn, tenantId, source),
    };
  });
}

/** A node as one version has it. */
interface NodeState {
  name: string;
  parentId: string | null;
  position: number;
  contentHash: string;
}

export type ChangeKind = 'added' | 'deleted' | 'renamed' | 'moved' | 'changed' | 'reordered';

export interface NodeChange {
  id: string;
  type: NodeType;
  /** `added` or `deleted` alone, or what changed in a node both versions have. */
  kinds: ChangeKind[];
  from: NodeState | null;
  to: NodeState | null;
}

const TYPES: readonly NodeType[] = ['DIRECTORY', 'CASE'];

/** The position a cursor names (validated by the query schema: a forged one is a 400 there). */
function positionOf(cursor: string | undefined): { table: number; id: string } {
  if (cursor === undefined) return { table: 0, id: '' };
  const p = decodeDiffCursor(cursor);
  if (!p)
    throw badRequest('the cursor is not one this API gave', [
      { path: 'query.cursor', message: 'not a cursor of this diff' },
    ]);
  return p;
}

const stateOf = (r: NodeRow | undefined): NodeState | null =>
  r && !r.deleted ? { name: r.name, parentId: r.parentId, position: r.position, contentHash: r.hash } : null;

/** What changed for one node between two versions, or undefined when nothing a user sees did. */
export function compareNode(id: string, type: NodeType, from: NodeState | null, to: NodeState | null) {
  if (!from && !to) return undefined;
  const kinds: ChangeKind[] = [];
  if (!from) kinds.push('added');
  else if (!to) kinds.push('deleted');
  else {
    if (from.name !== to.name) kinds.push('renamed');
    if (from.parentId !== to.parentId) kinds.push('moved');
    else if (from.position !== to.position) kinds.push('reordered');
    if (from.contentHash !== to.contentHash) kinds.push('changed');
  }
  // A node whose ancestor moved has a new path but the same parent: not a change of its own.
  return kinds.length === 0 ? undefined : { id, type, kinds, from, to };
}

/**
 * GET /api/testcase/diff: the nodes added, deleted, renamed, moved, reordered and changed
 * between two retained versions (`to` defaults to the published one), directories then cases,
 * each in id order, `limit` per page. Only rows that began or ended between the two versions
 * are looked at, so a diff costs what changed, not the tree's size. One consistent snapshot.
 */
export async function diffVersions(
  deps: HistoryDeps,
  tenantId: string,
  q: { source: string; from: number; to?: number; limit: number; cursor?: string },
): Promise<{ source: string; from: number; to: number; changes: NodeChange[]; nextCursor: string | null }> {
  let pos = positionOf(q.cursor);
  return inReadSnapshot(deps.db, async (conn) => {
    const from = await readableVersion(conn, deps.versions, tenantId, q.source, q.from);
    const to = await readableVersion(conn, deps.versions, tenantId, q.source, q.to);
    const [lo, hi] = from <= to ? [from, to] : [to, from];
    const changes: NodeChange[] = [];
    while (pos.table < TYPES.length && changes.length < q.limit) {
      const type = TYPES[pos.table] as NodeType;
      const ids = await deps.versions.changedIds(conn, type, tenantId, q.source, lo, hi, pos.id, q.limit);
      if (ids.length === 0) {
        pos = { table: pos.table + 1, id: '' };
        continue;
      }
      const [before, after] = await rowsAt(deps.trees, conn, tenantId, q.source, type, ids, from, to);
      for (const id of ids) {
        pos = { table: pos.table, id };
        const change = compareNode(id, type, stateOf(before.get(id)), stateOf(after.get(id)));
        if (change) changes.push(change);
        if (changes.length >= q.limit) break;
      }
      if (ids.length < q.limit && pos.id === ids.at(-1)) pos = { table: pos.table + 1, id: '' };
    }
    return {
      source: q.source,
      from,
      to,
      changes,
      nextCursor:
        pos.table < TYPES.length ? encodeDiffCursor({ table: pos.table as 0 | 1, id: pos.id }) : null,
    };
  });
}

async function rowsAt(
  trees: TreeStore,
  conn: PoolConnection,
  tenantId: string,
  source: string,
  type: NodeType,
  ids: string[],
  from: number,
  to: number,
): Promise<[Map<string, NodeRow>, Map<string, NodeRow>]> {
  return [
    await trees.findByIds(conn, tenantId, source, ids, [type], from),
    await trees.findByIds(conn, tenantId, source, ids, [type], to),
  ];
}
