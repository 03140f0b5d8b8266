import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { TreeLookup } from '../app/plan-import';
import type { FlatNode } from '../schemas';

type Queryable = Pool | PoolConnection;

const BATCH = 2500;

/**
 * What an import in parts has received so far (`import_node`), so each new part can be checked
 * against the earlier ones before its shards are queued.
 */
export class ImportStaging {
  constructor(private readonly db: Pool) {}

  /** The planner's view of the nodes already received for `taskId`. */
  lookup(conn: Queryable, taskId: string): TreeLookup {
    return {
      findByIds: async (ids) => {
        const out: Awaited<ReturnType<TreeLookup['findByIds']>> = new Map();
        for (let i = 0; i < ids.length; i += BATCH) {
          const [rows] = await conn.query<RowDataPacket[]>(
            'SELECT id, type, path, level, position FROM import_node WHERE task_id = ? AND id IN (?)',
            [taskId, ids.slice(i, i + BATCH)],
          );
          for (const r of rows) {
            out.set(r.id, {
              type: r.type === 'D' ? 'DIRECTORY' : 'CASE',
              path: r.path,
              level: r.level,
              position: r.position,
              deleted: false,
            });
          }
        }
        return out;
      },
      maxChildPositions: async (parents) => {
        const out = new Map<string | null, number>();
        const named = parents.filter((p): p is string => p !== null);
        if (named.length > 0) {
          const [rows] = await conn.query<RowDataPacket[]>(
            `SELECT parent_id AS p, MAX(position) AS m FROM import_node
              WHERE task_id = ? AND parent_id IN (?) GROUP BY parent_id`,
            [taskId, named],
          );
          for (const r of rows) out.set(r.p, Number(r.m));
        }
        if (parents.includes(null)) {
          const [rows] = await conn.query<RowDataPacket[]>(
            'SELECT MAX(position) AS m FROM import_node WHERE task_id = ? AND parent_id IS NULL',
            [taskId],
          );
          if (rows[0]?.m !== null && rows[0]?.m !== undefined) out.set(null, Number(rows[0].m));
        }
        return out;
      },
    };
  }

  async add(conn: PoolConnection, taskId: string, nodes: FlatNode[]): Promise<void> {
    for (let i = 0; i < nodes.length; i += BATCH) {
      // Only directories can be parents: a case's path is never looked up, so it is not kept.
      const rows = nodes
        .slice(i, i + BATCH)
        .map((n) => [
          taskId,
          n.id,
          n.parentId,
          n.type === 'DIRECTORY' ? 'D' : 'C',
          n.type === 'DIRECTORY' ? n.path : '',
          n.level,
          n.position,
        ]);
      await conn.query(
        'INSERT INTO import_node (task_id, id, parent_id, type, path, level, position) VALUES ?',
        [rows],
      );
    }
  }

  /** Forgets a finished import, in small batches so no transaction grows with the tree. */
  async clear(taskId: string): Promise<void> {
    for (;;) {
      const [res] = await this.db.query('DELETE FROM import_node WHERE task_id = ? LIMIT 10000', [taskId]);
      if ((res as { affectedRows: number }).affectedRows < 10000) return;
    }
  }
}
