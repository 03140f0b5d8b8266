import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { type NodeType, sourceVersions, TABLE, visibleArgs, visibleAt } from './tree-store.mysql';

type Queryable = Pool | PoolConnection;

/** What a version changed against the one published before it. */
export interface VersionCounts {
  added: number;
  changed: number;
  moved: number;
  renamed: number;
  deleted: number;
}

export interface VersionView {
  version: number;
  taskId: string | null;
  mode: string | null;
  /** Published by hand from a PARTIALLY_COMPLETED run. */
  partial: boolean;
  publishedAt: Date;
  counts: VersionCounts;
  nodes: { directories: number; cases: number };
}

/** Rows read in one go by the purge: small transactions, bounded memory. */
const PURGE_BATCH = 1000;

/**
 * SQL condition (two placeholders: the oldest version kept): a row no kept version needs. Either
 * it ended by then, or it is a deletion that happened by then (a deleted node reads as absent).
 */
const purgeable = (alias: string) =>
  `(${alias}.valid_to <= ? OR (${alias}.deleted = 1 AND ${alias}.valid_from <= ?))`;

const toView = (r: RowDataPacket): VersionView => ({
  version: Number(r.version),
  taskId: r.task_id,
  mode: r.mode,
  partial: r.partial === 1,
  publishedAt: r.published_at,
  counts: {
    added: r.added,
    changed: r.changed,
    moved: r.moved,
    renamed: r.renamed,
    deleted: r.deleted,
  },
  nodes: { directories: r.directories, cases: r.cases },
});

/**
 * The versions of a source's tree: publishing one (what readers read), the list of those
 * retained, and purging the rows only older versions could see. See TreeStore for the rows.
 */
export class TreeVersions {
  constructor(private readonly db: Pool) {}

  /** The source's versions (see `sourceVersions`, which TreeStore's fences read too). */
  readonly of = sourceVersions;

  /**
   * Publishes `version` inside the caller's transaction: one row in `tree_version` with what it
   * changed, then `published_version` moves to it, and every reader reads it from then on.
   * Idempotent: a version published already is returned as it was.
   */
  async publish(
    conn: PoolConnection,
    tenantId: string,
    source: string,
    version: number,
    by: { taskId: string; mode: string; partial?: boolean },
  ): Promise<VersionView> {
    const state = await this.of(conn, tenantId, source, 'FOR UPDATE');
    if (!state) throw new Error(`no source "${source}" to publish`);
    if (state.published < version) {
      const counts: VersionCounts = { added: 0, changed: 0, moved: 0, renamed: 0, deleted: 0 };
      const totals = await this.totals(conn, tenantId, source, state.published);
      for (const type of ['DIRECTORY', 'CASE'] as const) {
        const c = await this.changesOf(conn, type, tenantId, source, version);
        for (const k of Object.keys(counts) as (keyof VersionCounts)[]) counts[k] += c[k];
        const key = type === 'CASE' ? 'cases' : 'directories';
        totals[key] += c.added - c.deleted;
      }
      await conn.query(
        `INSERT IGNORE INTO tree_version (tenant_id, source, version, task_id, mode, partial, added, changed,
                moved, renamed, deleted, directories, cases)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          tenantId,
          source,
          version,
          by.taskId,
          by.mode,
          by.partial ? 1 : 0,
          counts.added,
          counts.changed,
          counts.moved,
          counts.renamed,
          counts.deleted,
          Math.max(0, totals.directories),
          Math.max(0, totals.cases),
        ],
      );
      await conn.query(
        `UPDATE tree_source SET published_version = ?, applied_version = GREATEST(applied_version, ?)
          WHERE tenant_id = ? AND source = ?`,
        [version, version, tenantId, source],
      );
    }
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT * FROM tree_version WHERE tenant_id = ? AND source = ? AND version = ?',
      [tenantId, source, version],
    );
    if (!rows[0]) throw new Error(`version ${version} of "${source}" is not published`);
    return toView(rows[0]);
  }

  /** Live directories and cases at `version`: from its row, or counted when it has none. */
  private async totals(
    conn: Queryable,
    tenantId: string,
    source: string,
    version: number,
  ): Promise<{ directories: number; cases: number }> {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT directories, cases FROM tree_version WHERE tenant_id = ? AND source = ? AND version = ?',
      [tenantId, source, version],
    );
    if (rows[0]) return { directories: rows[0].directories, cases: rows[0].cases };
    const out = { directories: 0, cases: 0 };
    for (const type of ['DIRECTORY', 'CASE'] as const) {
      const [n] = await conn.query<RowDataPacket[]>(
        `SELECT COUNT(*) AS n FROM ${TABLE[type].name} t
          WHERE tenant_id = ? AND source = ? AND deleted = 0 AND ${visibleAt('t')}`,
        [tenantId, source, ...visibleArgs(version)],
      );
      out[type === 'CASE' ? 'cases' : 'directories'] = Number(n[0]?.n ?? 0);
    }
    return out;
  }

  /**
   * What `version` changed in one table: its rows (valid_from = version) against the rows they
   * replaced (valid_to = version). O(rows it wrote), through the valid_from index.
   */
  private async changesOf(
    conn: Queryable,
    type: NodeType,
    tenantId: string,
    source: string,
    version: number,
  ): Promise<VersionCounts> {
    const { name, parent } = TABLE[type];
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT
         COALESCE(SUM(n.deleted = 0 AND (o.id IS NULL OR o.deleted = 1)), 0) AS added,
         COALESCE(SUM(n.deleted = 1 AND o.deleted = 0), 0) AS deleted,
         COALESCE(SUM(n.deleted = 0 AND o.deleted = 0 AND NOT (n.${parent} <=> o.${parent})), 0) AS moved,
         COALESCE(SUM(n.deleted = 0 AND o.deleted = 0 AND n.name <> o.name), 0) AS renamed,
         COALESCE(SUM(n.deleted = 0 AND o.deleted = 0 AND n.content_hash <> o.content_hash), 0) AS changed
       FROM ${name} n
       LEFT JOIN ${name} o ON o.tenant_id = n.tenant_id AND o.source = n.source AND o.id = n.id AND o.valid_to = ?
      WHERE n.tenant_id = ? AND n.source = ? AND n.valid_from = ?`,
      [version, tenantId, source, version],
    );
    const r = (rows[0] ?? {}) as Partial<Record<keyof VersionCounts, unknown>>;
    return {
      added: Number(r.added ?? 0),
      changed: Number(r.changed ?? 0),
      moved: Number(r.moved ?? 0),
      renamed: Number(r.renamed ?? 0),
      deleted: Number(r.deleted ?? 0),
    };
  }

  /** The retained versions of a source, newest first. */
  async list(conn: Queryable, tenantId: string, source: string): Promise<VersionView[]> {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT * FROM tree_version WHERE tenant_id = ? AND source = ? ORDER BY version DESC',
      [tenantId, source],
    );
    return rows.map(toView);
  }

  /** Whether `version` of the source is published and retained. */
  async isRetained(conn: Queryable, tenantId: string, source: string, version: number): Promise<boolean> {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT 1 FROM tree_version WHERE tenant_id = ? AND source = ? AND version = ?',
      [tenantId, source, version],
    );
    return rows.length > 0;
  }

  /**
   * Ids of `type` whose row differs between versions `lo` < `hi` (some row began or ended in
   * between), after `afterId`, in id order: a candidate list, the caller compares the rows.
   */
  async changedIds(
    conn: Queryable,
    type: NodeType,
    tenantId: string,
    source: string,
    lo: number,
    hi: number,
    afterId: string,
    limit: number,
  ): Promise<string[]> {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT DISTINCT id FROM ${TABLE[type].name}
        WHERE tenant_id = ? AND source = ? AND id > ?
          AND ((valid_from > ? AND valid_from <= ?) OR (valid_to > ? AND valid_to <= ?))
        ORDER BY id LIMIT ?`,
      [tenantId, source, afterId, lo, hi, lo, hi, limit],
    );
    return rows.map((r) => r.id as string);
  }

  /**
   * Sources with at least `keep` published versions: those that may have versions or rows to
   * purge (a sweep stopped between forgetting versions and removing their rows left some).
   */
  async crowded(keep: number, limit = 1000): Promise<{ tenantId: string; source: string }[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT tenant_id, source FROM tree_version GROUP BY tenant_id, source HAVING COUNT(*) >= ? LIMIT ?`,
      [keep, limit],
    );
    return rows.map((r) => ({ tenantId: r.tenant_id, source: r.source }));
  }

  /**
   * Forgets the versions older than the `keep` newest (at least the published one stays): they
   * stop being readable at once. Returns the oldest version kept, whose older rows may go.
   */
  async forgetOld(tenantId: string, source: string, keep: number): Promise<number | undefined> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT version FROM tree_version WHERE tenant_id = ? AND source = ?
        ORDER BY version DESC LIMIT 1 OFFSET ?`,
      [tenantId, source, Math.max(0, keep - 1)],
    );
    const oldest = rows[0] ? Number(rows[0].version) : undefined;
    if (oldest === undefined) return undefined;
    await this.db.query('DELETE FROM tree_version WHERE tenant_id = ? AND source = ? AND version < ?', [
      tenantId,
      source,
      oldest,
    ]);
    return oldest;
  }

  /**
   * Up to a batch of case rows no retained version at or after `oldest` sees, with the MongoDB
   * document (caseId, docVersion) of each that no other row still needs.
   */
  async purgeableCases(
    tenantId: string,
    source: string,
    oldest: number,
  ): Promise<{ rows: [string, number][]; docs: [string, number][] }> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT t.id, t.valid_from, t.doc_version,
              NOT EXISTS (SELECT 1 FROM test_case k
                 WHERE k.tenant_id = t.tenant_id AND k.source = t.source AND k.id = t.id
                   AND k.doc_version = t.doc_version AND NOT ${purgeable('k')}) AS orphan
         FROM test_case t WHERE t.tenant_id = ? AND t.source = ? AND ${purgeable('t')} LIMIT ?`,
      [oldest, oldest, tenantId, source, oldest, oldest, PURGE_BATCH],
    );
    return {
      rows: rows.map((r) => [r.id, Number(r.valid_from)]),
      docs: rows.filter((r) => Number(r.orphan) === 1).map((r) => [r.id, Number(r.doc_version)]),
    };
  }

  /** Deletes up to a batch of directory rows no retained version sees; returns how many. */
  async purgeDirectories(tenantId: string, source: string, oldest: number): Promise<number> {
    const [res] = await this.db.query(
      `DELETE FROM test_directory WHERE tenant_id = ? AND source = ? AND ${purgeable('test_directory')} LIMIT ?`,
      [tenantId, source, oldest, oldest, PURGE_BATCH],
    );
    return (res as { affectedRows: number }).affectedRows;
  }

  /** Deletes the case rows `rows` ([id, valid_from]). */
  async deleteCaseRows(tenantId: string, source: string, rows: [string, number][]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.query(
      'DELETE FROM test_case WHERE tenant_id = ? AND source = ? AND (id, valid_from) IN (?)',
      [tenantId, source, rows],
    );
  }

  /** Discarded versions whose MongoDB documents are still to be removed. */
  async discarded(
    of?: { tenantId: string; source: string },
    limit = 100,
  ): Promise<{ tenantId: string; source: string; after: number; upTo: number }[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT tenant_id, source, after_version, version FROM tree_discarded
        ${of ? 'WHERE tenant_id = ? AND source = ?' : ''} LIMIT ?`,
      [...(of ? [of.tenantId, of.source] : []), limit],
    );
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      source: r.source,
      after: Number(r.after_version),
      upTo: Number(r.version),
    }));
  }

  async forgetDiscarded(tenantId: string, source: string, upTo: number): Promise<void> {
    await this.db.query('DELETE FROM tree_discarded WHERE tenant_id = ? AND source = ? AND version = ?', [
      tenantId,
      source,
      upTo,
    ]);
  }
}
