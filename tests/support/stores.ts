import type { Connection, Pool, RowDataPacket } from 'mysql2/promise';

/** One live node as [id, parentId, type, name, position], the shape of `flatten(tree)`. */
export type LiveNode = [string, string | null, string, string, number];

/**
 * Every node of a source's published version, sorted, read as someone querying MySQL directly
 * would (the README's views: test_directory_current, test_case_current).
 */
export async function liveTree(
  db: Pool | Connection,
  source: string,
  tenant = 'default',
): Promise<LiveNode[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT id, parent_id AS p, 'DIRECTORY' AS t, name, position FROM test_directory_current
      WHERE tenant_id = ? AND source = ?
     UNION ALL
     SELECT id, directory_id, 'CASE', name, position FROM test_case_current
      WHERE tenant_id = ? AND source = ?`,
    [tenant, source, tenant, source],
  );
  return rows.map((r): LiveNode => [r.id, r.p, r.t, r.name, r.position]).sort();
}

/** The same URL naming another database (MySQL or MongoDB). */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}
