import { logger } from '@collect/common';
import type { CaseStore } from '../adapters/case-store.mongo';
import type { TreeVersions } from '../adapters/tree-versions.mysql';
import type { SnapshotWriter } from './tree-snapshot';

/**
 * Keeps `keep` published versions per source (TREE_VERSIONS_KEEP) and removes what only older
 * ones could see, in an order a crash cannot hurt: the old versions are forgotten first (they
 * stop being readable), then, batch by batch, the MongoDB documents no kept row uses and the
 * rows themselves. A sweep stopped half-way leaves only rows no reader can reach, which the
 * next sweep removes. It also removes the documents of discarded runs (never published).
 */
export class TreeRetention {
  constructor(
    private readonly versions: TreeVersions,
    private readonly cases: Pick<CaseStore, 'remove' | 'removeVersions'>,
    private readonly snapshots: Pick<SnapshotWriter, 'removeBefore'>,
    private readonly keep: number,
  ) {}

  /** Purges one source beyond its retained versions; returns the rows removed. */
  async sweepSource(tenantId: string, source: string): Promise<number> {
    await this.cleanDiscarded({ tenantId, source });
    const oldest = await this.versions.forgetOld(tenantId, source, this.keep);
    if (oldest === undefined) return 0;
    let removed = 0;
    for (;;) {
      const batch = await this.versions.purgeableCases(tenantId, source, oldest);
      if (batch.rows.length === 0) break;
      await this.cases.remove(tenantId, source, batch.docs);
      await this.versions.deleteCaseRows(tenantId, source, batch.rows);
      removed += batch.rows.length;
    }
    for (;;) {
      const n = await this.versions.purgeDirectories(tenantId, source, oldest);
      removed += n;
      if (n === 0) break;
    }
    await this.snapshots.removeBefore(tenantId, source, oldest);
    return removed;
  }

  /** Every source: the every-minute sweep. Returns the sources it purged. */
  async sweep(): Promise<string[]> {
    await this.cleanDiscarded();
    const purged: string[] = [];
    for (const { tenantId, source } of await this.versions.crowded(this.keep)) {
      try {
        await this.sweepSource(tenantId, source);
        purged.push(`${tenantId}/${source}`);
      } catch (err) {
        logger().warn({ err, tenantId, source }, 'purging old tree versions failed');
      }
    }
    return purged;
  }

  /** Removes the MongoDB documents of discarded versions (of one source, or all). */
  private async cleanDiscarded(of?: { tenantId: string; source: string }): Promise<void> {
    for (const d of await this.versions.discarded(of)) {
      await this.cases.removeVersions(d.tenantId, d.source, d.after, d.upTo);
      await this.versions.forgetDiscarded(d.tenantId, d.source, d.upTo);
    }
  }
}
