import { type AnyBulkWriteOperation, type Db, MongoBulkWriteError } from 'mongodb';
import { MONGO } from '../mongo-collections';
import type { FlatNode } from '../schemas';
import type { StoredNode } from './tree-store.mysql';

export interface CaseDetailDoc {
  _id: string;
  tenantId: string;
  source: string;
  caseId: string;
  content: FlatNode['content'] | null;
  metadata: FlatNode['metadata'] | null;
  contentHash: string;
  /** The tree version that wrote this content (the `doc_version` of the MySQL rows that use it). */
  version: number;
  updatedAt: Date;
}

const DUPLICATE_KEY = 11000;

/**
 * A case document's `_id`: one per case and content version, so a run writes new content
 * without touching what readers of the published version read. Version 0 is the document from
 * before versions, which had no version in its `_id`.
 */
export const caseDocId = (tenantId: string, source: string, caseId: string, docVersion: number): string =>
  docVersion === 0
    ? `${tenantId}\u001f${source}\u001f${caseId}`
    : `${tenantId}\u001f${source}\u001f${caseId}\u001f${docVersion}`;

/** The filter of the documents [caseId, docVersion] of a source's cases. */
const documentsOf = (tenantId: string, source: string, cases: [string, number][]) => ({
  _id: { $in: cases.map(([id, v]) => caseDocId(tenantId, source, id, v)) },
});

/** A case's content to store, and the version whose document holds it. */
type VersionedCase = { node: FlatNode; docVersion: number };

/**
 * Full case details in MongoDB, one document per case and content version with a
 * deterministic `_id`. The MySQL row of a case says which one it uses (`doc_version`): a run that
 * changes a case's content writes a document of its own version; one that only moves it keeps
 * the document. Documents no kept row uses are removed with the rows (TreeRetention).
 */
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
    cases: VersionedCase[],
    unseen: ReadonlySet<string>,
  ): Promise<void> {
    const now = new Date();
    const doc = ({ node: c, docVersion }: VersionedCase): CaseDetailDoc => ({
      _id: caseDocId(tenantId, source, c.id, docVersion),
      tenantId,
      source,
      caseId: c.id,
      content: c.content ?? null,
      metadata: c.metadata ?? null,
      contentHash: c.hash,
      version: docVersion,
      updatedAt: now,
    });
    const fresh = cases.filter((c) => unseen.has(c.node.id)).map(doc);
    const rest = cases.filter((c) => !unseen.has(c.node.id)).map(doc);
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
   * Writes the documents of the cases among `nodes` for a run of `version`, given their MySQL
   * head rows `before`, and returns the document version each case's row must name. A case whose
   * content is new or changed gets a document of `version`. One with the content its row has
   * keeps that row's document, checked against its hash and rewritten only if missing or
   * different, so the stores converge even after MongoDB lost data, at the cost of one read per
   * page.
   */
  async writeChanged(
    tenantId: string,
    source: string,
    version: number,
    nodes: FlatNode[],
    before: ReadonlyMap<string, StoredNode>,
  ): Promise<Map<string, number>> {
    const cases = nodes.filter((n) => n.type === 'CASE');
    const docVersions = new Map<string, number>();
    const known: VersionedCase[] = [];
    for (const n of cases) {
      const row = before.get(n.id);
      const same = row !== undefined && !row.deleted && row.type === 'CASE' && row.hash === n.hash;
      const docVersion = same ? (row.docVersion ?? version) : version;
      docVersions.set(n.id, docVersion);
      if (same) known.push({ node: n, docVersion });
    }
    const stored = await this.contentHashes(
      tenantId,
      source,
      known.map((k): [string, number] => [k.node.id, k.docVersion]),
    );
    const knownIds = new Set(known.map((k) => k.node.id));
    const stale = cases
      .filter((n) => !knownIds.has(n.id) || stored.get(n.id) !== n.hash)
      .map((n) => ({ node: n, docVersion: docVersions.get(n.id) as number }));
    // New content of this version: almost surely no document yet (a replay has one).
    const unseen = new Set(stale.filter((c) => c.docVersion === version).map((c) => c.node.id));
    await this.write(tenantId, source, stale, unseen);
    return docVersions;
  }

  /** The stored content hash of each of the documents [caseId, docVersion] that exists. */
  private async contentHashes(
    tenantId: string,
    source: string,
    cases: [string, number][],
  ): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (cases.length === 0) return out;
    const docs = this.collection().find(documentsOf(tenantId, source, cases), {
      projection: { caseId: 1, contentHash: 1 },
    });
    for await (const d of docs) out.set(d.caseId, d.contentHash);
    return out;
  }

  /** The document of a case's content as of `docVersion` (its MySQL row's `doc_version`). */
  async get(
    tenantId: string,
    source: string,
    caseId: string,
    docVersion: number,
  ): Promise<CaseDetailDoc | null> {
    return this.collection().findOne({ _id: caseDocId(tenantId, source, caseId, docVersion) });
  }

  /** The documents [caseId, docVersion] of several cases, by case id (missing ones absent). */
  async getMany(
    tenantId: string,
    source: string,
    cases: [string, number][],
  ): Promise<Map<string, CaseDetailDoc>> {
    const out = new Map<string, CaseDetailDoc>();
    if (cases.length === 0) return out;
    const docs = this.collection().find(documentsOf(tenantId, source, cases));
    for await (const d of docs) out.set(d.caseId, d);
    return out;
  }

  /** Removes the documents [caseId, docVersion] no kept MySQL row uses any more. */
  async remove(tenantId: string, source: string, docs: [string, number][]): Promise<void> {
    if (docs.length === 0) return;
    await this.collection().deleteMany(documentsOf(tenantId, source, docs));
  }

  /** Removes the documents versions `after`+1 … `upTo` wrote (discarded, never published). */
  async removeVersions(tenantId: string, source: string, after: number, upTo: number): Promise<void> {
    await this.collection().deleteMany({ tenantId, source, version: { $gt: after, $lte: upTo } });
  }
}
