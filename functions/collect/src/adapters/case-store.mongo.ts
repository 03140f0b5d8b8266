import { MONGO } from '@collect/common';
import type { AnyBulkWriteOperation, Db } from 'mongodb';
import type { FlatNode } from '../schemas';

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

export const caseDocId = (tenantId: string, source: string, caseId: string): string =>
  `${tenantId}\u001f${source}\u001f${caseId}`;

/** Full case details in MongoDB, one document per case with a deterministic `_id`. */
export class CaseStore {
  constructor(private readonly db: Db) {}

  /**
   * One unordered bulkWrite of upserts by `_id` alone, which the server answers on its fast
   * path (an extra `version` predicate costs ~70 % more server CPU, measured). No version guard
   * is needed here: a source has one import at a time and a settled shard is never re-applied,
   * so no older version can write after a newer one.
   */
  async upsert(tenantId: string, source: string, version: number, cases: FlatNode[]): Promise<void> {
    if (cases.length === 0) return;
    const now = new Date();
    const ops: AnyBulkWriteOperation<CaseDetailDoc>[] = cases.map((c) => ({
      updateOne: {
        filter: { _id: caseDocId(tenantId, source, c.id) },
        update: {
          $set: {
            tenantId,
            source,
            caseId: c.id,
            name: c.name,
            content: c.content ?? null,
            metadata: c.metadata ?? null,
            contentHash: c.hash,
            version,
            updatedAt: now,
          },
        },
        upsert: true,
      },
    }));
    await this.db.collection<CaseDetailDoc>(MONGO.caseDetail).bulkWrite(ops, { ordered: false });
  }

  /** The stored content hash of each of `caseIds` that has a document. */
  async contentHashes(tenantId: string, source: string, caseIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (caseIds.length === 0) return out;
    const docs = this.db
      .collection<CaseDetailDoc>(MONGO.caseDetail)
      .find(
        { _id: { $in: caseIds.map((id) => caseDocId(tenantId, source, id)) } },
        { projection: { caseId: 1, contentHash: 1 } },
      );
    for await (const d of docs) out.set(d.caseId, d.contentHash);
    return out;
  }

  async get(tenantId: string, source: string, caseId: string): Promise<CaseDetailDoc | null> {
    return this.db
      .collection<CaseDetailDoc>(MONGO.caseDetail)
      .findOne({ _id: caseDocId(tenantId, source, caseId) });
  }
}
