import { MONGO } from '@collect/common';
import { type AnyBulkWriteOperation, type Db, MongoBulkWriteError } from 'mongodb';
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

const DUPLICATE_KEY = 11000;

export const caseDocId = (tenantId: string, source: string, caseId: string): string =>
  `${tenantId}\u001f${source}\u001f${caseId}`;

/** Full case details in MongoDB, one document per case with a deterministic `_id`. */
export class CaseStore {
  constructor(private readonly db: Db) {}

  /**
   * One unordered bulkWrite of upserts. The filter only matches a document of the same or an
   * older version; a newer one makes the upsert collide on `_id`, which means "already newer"
   * and is not an error.
   */
  async upsert(tenantId: string, source: string, version: number, cases: FlatNode[]): Promise<void> {
    if (cases.length === 0) return;
    const now = new Date();
    const ops: AnyBulkWriteOperation<CaseDetailDoc>[] = cases.map((c) => ({
      updateOne: {
        filter: { _id: caseDocId(tenantId, source, c.id), version: { $lte: version } },
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
    try {
      await this.db.collection<CaseDetailDoc>(MONGO.caseDetail).bulkWrite(ops, { ordered: false });
    } catch (err) {
      if (err instanceof MongoBulkWriteError) {
        const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
        if (errors.length > 0 && errors.every((e) => e.code === DUPLICATE_KEY)) return;
      }
      throw err;
    }
  }

  async get(tenantId: string, source: string, caseId: string): Promise<CaseDetailDoc | null> {
    return this.db
      .collection<CaseDetailDoc>(MONGO.caseDetail)
      .findOne({ _id: caseDocId(tenantId, source, caseId) });
  }
}
