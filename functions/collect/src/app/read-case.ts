import { notFound } from '@collect/common';
import type { Pool } from 'mysql2/promise';
import type { CaseStore } from '../adapters/case-store.mongo';
import type { TreeCache } from '../adapters/tree-cache.redis';
import type { TreeStore } from '../adapters/tree-store.mysql';
import type { TreeVersions } from '../adapters/tree-versions.mysql';
import { cachedRead } from './read-tree';

export interface ReadCaseDeps {
  db: Pool;
  trees: TreeStore;
  versions: TreeVersions;
  cases: CaseStore;
  cache: TreeCache;
}

/**
 * A case with its details (MongoDB, the document its row names) and its path of ancestors
 * (MySQL), as of the published version (or `version`), cached per version.
 */
export async function readCase(
  deps: ReadCaseDeps,
  tenantId: string,
  source: string,
  id: string,
  version?: number,
): Promise<unknown> {
  return cachedRead(deps, tenantId, { source, version }, `case\u001f${id}`, async (conn, v) => {
    const row = (await deps.trees.findByIds(conn, tenantId, source, [id], ['CASE'], v)).get(id);
    if (!row || row.deleted) throw notFound(`case "${id}" in source "${source}"`);
    const ancestorIds = row.path.split('/').filter((p) => p !== '' && p !== id);
    const ancestors = await deps.trees.findByIds(conn, tenantId, source, ancestorIds, ['DIRECTORY'], v);
    const path = ancestorIds.map((a) => ({ id: a, name: ancestors.get(a)?.name ?? null }));
    const detail = await deps.cases.get(tenantId, source, id, row.docVersion ?? 0);
    return {
      id: row.id,
      source,
      type: 'CASE',
      name: row.name,
      directoryId: row.parentId,
      position: row.position,
      status: row.status,
      priority: row.priority,
      path,
      pathString: [...path.map((p) => p.name ?? p.id), row.name].join(' / '),
      content: detail?.content ?? null,
      metadata: detail?.metadata ?? null,
      // The tree version this answer is as of, and the one that last changed the case.
      version: v,
      changedIn: row.validFrom,
      updatedAt: row.updateTime,
    };
  });
}
