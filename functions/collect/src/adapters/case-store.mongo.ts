import { type AnyBulkWriteOperation, type Db, MongoBulkWriteError } from 'mongodb';
import { MONGO } from '../mongo-collections';
import type { FlatNode } from '../schemas';
import type { StoredNode } from './tree-store.mysql';

export interface CaseDetailDoc {
  _id: string;
  tenantId: string;
  source: string;
  caseId: string;
  name: string;
  content: FlatNode['content'] | null;
  metadata: FlatNode['metadata'] | null;
  contentHash: string;
  version: number;
  updatedAt: Date;
}

const DUPLICATE_KEY = 11000;

export const caseDocId = (tenantId: string, source: string, caseId: string): string =>
  `${tenantId}\u001f${source}\u001f${caseId}`;

/** Full case details in MongoDB, one document per case with a deterministic `_id`. */
export class CaseStore {
  constructor(private readonly db: Db) {}

  /**
   * Writes the documents of `cases`. Those in `unseen` (no MySQL row: almost surely no document
   * either) are inserted, because the server takes about a quarter of the CPU for an unordered
   * insertMany that it takes for upserts (1.1 against 4.6 CPU-s per 40k documents of ~1 KB,
   * measured on the engine used here). One that has a document after all (a crash between this
   * write and the MySQL commit, then a replay) fails with a duplicate key and is upserted.
   * The others are upserted by `_id` alone, the server's fast upsert path (a `version`
   * predicate costs ~70 % more). No version guard is needed: a source has one import at a time
   * and a settled shard is never applied again, so no older version writes after a newer one.
   */
  async write(
    tenantId: string,
    source: string,
    version: number,
    cases: FlatNode[],
    unseen: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    const now = new Date();
    const doc = (c: FlatNode): CaseDetailDoc => ({
      _id: caseDocId(tenantId, source, c.id),
      tenantId,
      source,
      caseId: c.id,
      name: c.name,
      content: c.content ?? null,
      metadata: c.metadata ?? null,
      contentHash: c.hash,
      version,
      updatedAt: now,
    });
    const fresh = cases.filter((c) => unseen.has(c.id)).map(doc);
    const rest = cases.filter((c) => !unseen.has(c.id)).map(doc);
    rest.push(...(await this.insertNew(fresh)));
    await this.upsert(rest);
  }

  /** Inserts `docs`; returns those that already had a document (duplicate key), to be upserted. */
  private async insertNew(docs: CaseDetailDoc[]): Promise<CaseDetailDoc[]> {
    if (docs.length === 0) return [];
    try {
      await this.collection().insertMany(docs, { ordered: false });
      return [];
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError) || err.writeConcernError) throw err;
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      if (errors.length === 0 || errors.some((e) => e.code !== DUPLICATE_KEY)) throw err;
      return errors.map((e) => docs[e.index] as CaseDetailDoc);
    }
  }

  private async upsert(docs: CaseDetailDoc[]): Promise<void> {
    if (docs.length === 0) return;
    const ops: AnyBulkWriteOperation<CaseDetailDoc>[] = docs.map(({ _id, ...fields }) => ({
      updateOne: { filter: { _id }, update: { $set: fields }, upsert: true },
    }));
    await this.collection().bulkWrite(ops, { ordered: false });
  }

  private collection() {
    return this.db.collection<CaseDetailDoc>(MONGO.caseDetail);
  }

  /**
   * The documents of the cases among `nodes` that are new, changed, or missing or different here,
   * given the MySQL rows they had `before` this write. One MySQL already has with this content is
   * checked against its document's hash and rewritten only if that is missing or differs, so the
   * stores converge even after MongoDB lost data, at the cost of one read per page.
   */
  async writeChanged(
    tenantId: string,
    source: string,
    version: number,
    nodes: FlatNode[],
    before: ReadonlyMap<string, StoredNode>,
  ): Promise<void> {
    const cases = nodes.filter((n) => n.type === 'CASE');
    const known = cases.filter((n) => {
      const row = before.get(n.id);
      return row !== undefined && !row.deleted && row.type === 'CASE' && row.hash === n.hash;
    });
    const stored = await this.contentHashes(
      tenantId,
      source,
      known.map((n) => n.id),
    );
    const knownIds = new Set(known.map((n) => n.id));
    const stale = cases.filter((n) => !knownIds.has(n.id) || stored.get(n.id) !== n.hash);
    const unseen = new Set(cases.filter((n) => !before.has(n.id)).map((n) => n.id));
    await this.write(tenantId, source, version, stale, unseen);
  }

  /** The stored content hash of each of `caseIds` that has a document. */
  async contentHashes(tenantId: string, source: string, caseIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (caseIds.length === 0) return out;
    const docs = this.collection().find(
      { _id: { $in: caseIds.map((id) => caseDocId(tenantId, source, id)) } },
      { projection: { caseId: 1, contentHash: 1 } },
    );
    for await (const d of docs) out.set(d.caseId, d.contentHash);
    return out;
  }

  async get(tenantId: string, source: string, caseId: string): Promise<CaseDetailDoc | null> {
    return this.collection().findOne({ _id: caseDocId(tenantId, source, caseId) });
  }
}
