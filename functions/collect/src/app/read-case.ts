import { notFound } from '@collect/common';
import type { Pool } from 'mysql2/promise';
import type { CaseStore } from '../adapters/case-store.mongo';
import type { TreeCache } from '../adapters/tree-cache.redis';
import type { TreeStore } from '../adapters/tree-store.mysql';

export interface ReadCaseDeps {
  db: Pool;
  trees: TreeStore;
  cases: CaseStore;
  cache: TreeCache;
}

/** A case with its details (MongoDB) and its path of ancestors (MySQL), cached per generation. */
export async function readCase(
  deps: ReadCaseDeps,
  tenantId: string,
  source: string,
  id: string,
): Promise<unknown> {
  const gen = await deps.cache.generation(tenantId, source);
  const key = `case\u001f${id}`;
  const hit = await deps.cache.get(tenantId, source, gen, key);
  if (hit) return JSON.parse(hit);

  const row = (await deps.trees.findByIds(deps.db, tenantId, source, [id])).get(id);
  if (!row || row.deleted || row.type !== 'CASE') throw notFound(`case "${id}" in source "${source}"`);
  const ancestorIds = row.path.split('/').filter((p) => p !== '' && p !== id);
  const ancestors = await deps.trees.findByIds(deps.db, tenantId, source, ancestorIds);
  const path = ancestorIds.map((a) => ({ id: a, name: ancestors.get(a)?.name ?? null }));
  const detail = await deps.cases.get(tenantId, source, id);
  const result = {
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
    version: row.version,
    updatedAt: row.updateTime,
  };
  await deps.cache.set(tenantId, source, gen, key, JSON.stringify(result));
  return result;
}
