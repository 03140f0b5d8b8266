import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import { contentHash } from '../functions/collect/src/app/tree-walk';
import { MONGO } from '../functions/collect/src/mongo-collections';
import { setupMongo } from '../functions/collect/src/setup';

/** A record as both benches write it: a directory or a case with its details. */
export interface RawNode {
  id: string;
  type: 'DIRECTORY' | 'CASE';
  name: string;
  parentId: string | null;
  content?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/**
 * Raw: every batch to MySQL (one multi-row upsert per table) then MongoDB (one bulkWrite of
 * upserts), as the issue defines the raw limit. `inserts` is a second reference: plain multi-row
 * INSERTs and insertMany, which only work because the stores were just emptied.
 */
export async function rawWrite(
  env: Record<string, string>,
  how: 'upserts' | 'inserts',
  input: Iterable<RawNode[]>,
  workers: number,
): Promise<number> {
  const db = mysql.createPool({
    uri: env.MYSQL_URL,
    connectionLimit: workers,
    charset: 'utf8mb4_unicode_ci',
  });
  const mongo = await new MongoClient(env.MONGO_URL as string, { maxPoolSize: workers }).connect();
  const coll = mongo.db().collection<{ _id: string }>('case_detail');
  const source = 'bench-raw';
  const pathOf = new Map<string, string>();
  const write = async (batch: RawNode[]) => {
    const row = (n: RawNode) => {
      const path = `${n.parentId ? pathOf.get(n.parentId) : ''}/${n.id}`;
      if (n.type === 'DIRECTORY') pathOf.set(n.id, path);
      return [
        'default',
        source,
        n.id,
        n.parentId,
        n.name,
        path,
        path.split('/').length - 1,
        0,
        contentHash(n),
        1,
        1,
        0,
      ];
    };
    const dirs = batch.filter((n) => n.type === 'DIRECTORY').map(row);
    const cs = batch.filter((n) => n.type === 'CASE');
    const cols =
      'tenant_id, source, id, PARENT, name, path, level, position, content_hash, version, seen_version, deleted';
    const update =
      'name = VALUES(name), path = VALUES(path), content_hash = VALUES(content_hash), seen_version = VALUES(seen_version)';
    const onDuplicate = how === 'upserts' ? ` ON DUPLICATE KEY UPDATE ${update}` : '';
    if (dirs.length)
      await db.query(
        `INSERT INTO test_directory (${cols.replace('PARENT', 'parent_id')}) VALUES ?${onDuplicate}`,
        [dirs],
      );
    if (cs.length) {
      await db.query(
        `INSERT INTO test_case (${cols.replace('PARENT', 'directory_id')}) VALUES ?${onDuplicate}`,
        [cs.map(row)],
      );
      const docs = cs.map((c) => ({
        _id: `default\u001f${source}\u001f${c.id}`,
        tenantId: 'default',
        source,
        caseId: c.id,
        name: c.name,
        content: c.content,
        metadata: c.metadata,
        contentHash: contentHash(c),
        version: 1,
        updatedAt: new Date(),
      }));
      if (how === 'inserts') await coll.insertMany(docs, { ordered: false });
      else
        await coll.bulkWrite(
          docs.map(({ _id, ...fields }) => ({
            updateOne: { filter: { _id }, update: { $set: fields }, upsert: true },
          })),
          { ordered: false },
        );
    }
  };
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  let dirsDone = false;
  for (const batch of input) {
    // Directories first, in order (their paths feed the cases); then `workers` writers in parallel.
    if (!dirsDone && batch.some((n) => n.type === 'CASE')) {
      await Promise.all(inFlight);
      dirsDone = true;
    }
    const p = write(batch).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (!dirsDone || inFlight.size >= workers) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  await db.end();
  await mongo.close();
  return seconds;
}

/** Empties the tree tables and MongoDB collections, so each measured run starts from the same state. */
export async function wipe(env: Record<string, string>): Promise<void> {
  const db = await mysql.createConnection({ uri: env.MYSQL_URL });
  for (const t of [
    'test_directory',
    'test_case',
    'import_node',
    'tree_source',
    'tree_version',
    'tree_discarded',
  ])
    await db.query(`TRUNCATE TABLE ${t}`);
  await db.end();
  const mongo = await new MongoClient(env.MONGO_URL as string).connect();
  for (const c of [MONGO.caseDetail, MONGO.treeSnapshot])
    await mongo
      .db()
      .collection(c)
      .drop()
      .catch(() => undefined);
  await setupMongo(mongo.db(), 1);
  await mongo.close();
}
