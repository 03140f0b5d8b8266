import type { Connection, Pool, RowDataPacket } from 'mysql2/promise';

/** One live node as [id, parentId, type, name, position], the shape of `flatten(tree)`. */
export type LiveNode = [string, string | null, string, string, number];

/** Every live (not soft-deleted) node of a source, from both tree tables, sorted. */
export async function liveTree(
  db: Pool | Connection,
  source: string,
  tenant = 'default',
): Promise<LiveNode[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT id, parent_id AS p, 'DIRECTORY' AS t, name, position FROM test_directory
      WHERE tenant_id = ? AND source = ? AND deleted = 0
     UNION ALL
     SELECT id, directory_id, 'CASE', name, position FROM test_case
      WHERE tenant_id = ? AND source = ? AND deleted = 0`,
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
