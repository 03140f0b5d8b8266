import { badRequest, ProblemList } from '@collect/common';
import { z } from 'zod';
import type { CollectorCatalog, CollectorVersion } from '../adapters/catalog.mysql';
import type { ReleaseStore } from '../adapters/releases.mysql';

/** What a collector service sends to register a version (on setup or deploy). */
export const catalogEntrySchema = z.strictObject({
  type: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be a lower-case name (a-z, 0-9, -)'),
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/, 'must be a version name (e.g. 1, 2.1)'),
  route: z.string().min(1).max(64),
  settingsSchema: z.record(z.string(), z.unknown()),
  secrets: z.array(z.string().max(64)).max(64),
  strategySchema: z.record(z.string(), z.unknown()).optional(),
});
export type CatalogEntry = z.infer<typeof catalogEntrySchema>;

/** Records a collector version a collector service sent; every problem at once. */
export async function registerCollector(catalog: CollectorCatalog, entry: unknown): Promise<CatalogEntry> {
  const parsed = catalogEntrySchema.safeParse(entry);
  if (!parsed.success) {
    const problems = new ProblemList();
    problems.addZod('', parsed.error);
    throw badRequest(`the catalog entry has ${problems.total} problem(s)`, problems.items);
  }
  await catalog.register({ ...parsed.data, strategySchema: parsed.data.strategySchema ?? null });
  return parsed.data;
}

/**
 * `GET /api/collectors`: every type with its versions, settings schema and release status:
 * `stable` (what runs get), `canary` (a job's release routes runs to it) or `available`.
 */
export async function listCollectors(deps: { catalog: CollectorCatalog; releases: ReleaseStore }) {
  const byType = new Map<string, CollectorVersion[]>();
  for (const v of await deps.catalog.list()) byType.set(v.type, [...(byType.get(v.type) ?? []), v]);
  const releases = await deps.releases.countsByVersion();
  return {
    items: [...byType].map(([type, versions]) => ({
      type,
      stable: versions.find((v) => v.status === 'stable')?.version ?? null,
      versions: versions.map((v) => ({
        version: v.version,
        status:
          v.status === 'stable'
            ? 'stable'
            : (releases.get(`${type}@${v.version}`) ?? 0) > 0
              ? 'canary'
              : 'available',
        releases: releases.get(`${type}@${v.version}`) ?? 0,
        route: v.route,
        settingsSchema: v.settingsSchema,
        secrets: v.secrets,
        registeredAt: v.registeredAt,
        promotedAt: v.promotedAt,
      })),
    })),
  };
}
