import { createHash } from 'node:crypto';
import type { Db } from 'mongodb';
import type { Pool } from 'mysql2/promise';
import { visibleArgs, visibleAt } from '../adapters/tree-store.mysql';
import { MONGO } from '../mongo-collections';

/** Entries per snapshot part document: keeps each document far below MongoDB's 16 MB. */
const PART_SIZE = 5000;

/** [id, type (D|C), parentId, position, contentHash] */
export type SnapshotEntry = [string, 'D' | 'C', string | null, number, string];

export interface SnapshotWriter {
  write(tenantId: string, source: string, version: number, taskId: string, mode: string): Promise<void>;
  /** Removes the snapshots of versions older than `oldest` (no longer retained). */
  removeBefore(tenantId: string, source: string, oldest: number): Promise<void>;
}

/**
 * Writes one `tree_snapshot` version: part 0 is the header (counts, hash of the whole tree,
 * number of parts), parts 1..n hold the structure. The version's tree is streamed from MySQL, so
 * memory stays bounded by one part whatever the tree size. Ids are deterministic: a replay
 * rewrites the same documents.
 */
export class MongoSnapshotWriter implements SnapshotWriter {
  constructor(
    private readonly db: Pool,
    private readonly mongo: Db,
  ) {}

  async write(
    tenantId: string,
    source: string,
    version: number,
    taskId: string,
    mode: string,
  ): Promise<void> {
    const coll = this.mongo.collection(MONGO.treeSnapshot);
    const hash = createHash('md5');
    const counts = { directories: 0, cases: 0 };
    let part: SnapshotEntry[] = [];
    let parts = 0;
    const flush = async () => {
      if (part.length === 0) return;
      parts += 1;
      const _id = `${tenantId}\u001f${source}\u001f${version}\u001f${parts}`;
      await coll.replaceOne(
        { _id } as never,
        { tenantId, source, version, part: parts, entries: part },
        { upsert: true },
      );
      part = [];
    };
    // Directories, then cases, each in primary-key order: read straight off the index, no sort.
    for (const [table, type, parent] of [
      ['test_directory', 'D', 'parent_id'],
      ['test_case', 'C', 'directory_id'],
    ] as const) {
      const stream = this.db.pool
        .query(
          `SELECT id, ${parent} AS p, position, content_hash AS h FROM ${table} t
            WHERE tenant_id = ? AND source = ? AND deleted = 0 AND ${visibleAt('t')} ORDER BY id`,
          [tenantId, source, ...visibleArgs(version)],
        )
        .stream();
      for await (const r of stream as AsyncIterable<{
        id: string;
        p: string | null;
        position: number;
        h: string;
      }>) {
        const entry: SnapshotEntry = [r.id, type, r.p, r.position, r.h];
        hash.update(`${entry.join('\u001f')}\n`);
        if (type === 'D') counts.directories += 1;
        else counts.cases += 1;
        part.push(entry);
        if (part.length >= PART_SIZE) await flush();
      }
    }
    await flush();
    const header = {
      tenantId,
      source,
      version,
      part: 0,
      parts,
      taskId,
      mode,
      counts,
      hash: hash.digest('hex'),
      createdAt: new Date(),
    };
    await coll.replaceOne({ _id: `${tenantId}\u001f${source}\u001f${version}\u001f0` } as never, header, {
      upsert: true,
    });
  }

  async removeBefore(tenantId: string, source: string, oldest: number): Promise<void> {
    await this.mongo
      .collection(MONGO.treeSnapshot)
      .deleteMany({ tenantId, source, version: { $lt: oldest } });
  }
}
