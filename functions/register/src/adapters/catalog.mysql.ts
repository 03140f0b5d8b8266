import { inTransaction, jsonColumn } from '@collect/common';
import type { Pool, RowDataPacket } from 'mysql2/promise';

/** A collector version as its service registered it. */
export interface CollectorVersion {
  type: string;
  version: string;
  /** The queue its shards run on. */
  route: string;
  /** JSON Schema of its settings (generated from the collector's own schema). */
  settingsSchema: Record<string, unknown>;
  /** Setting names never returned or logged. */
  secrets: string[];
  /** JSON Schema of a run's strategy (null: the service sent none; strategies go unchecked). */
  strategySchema: Record<string, unknown> | null;
  status: 'stable' | 'available';
  registeredAt: Date;
  /** When it became the stable version (null: never promoted; a type's first version is stable from the start). */
  promotedAt: Date | null;
}

const toVersion = (r: RowDataPacket): CollectorVersion => ({
  type: r.type,
  version: r.version,
  route: r.route,
  settingsSchema: jsonColumn(r.settings_schema),
  secrets: jsonColumn(r.secrets),
  strategySchema: r.strategy_schema === null ? null : jsonColumn(r.strategy_schema),
  status: r.status,
  registeredAt: r.registered_at,
  promotedAt: r.promoted_at ?? null,
});

/** The collector catalog in MySQL (register owns it; collector services only send it entries). */
export class CollectorCatalog {
  constructor(private readonly db: Pool) {}

  /**
   * Records a version (again: a redeploy updates its schema). The first version of a type is its
   * stable one; later ones are available until a release or a promotion uses them.
   */
  async register(v: Omit<CollectorVersion, 'status' | 'registeredAt' | 'promotedAt'>): Promise<void> {
    await this.db.query(
      `INSERT INTO register_collector_version (type, version, route, settings_schema, secrets, strategy_schema, status)
       SELECT ?, ?, ?, ?, ?, ?, IF(EXISTS (SELECT 1 FROM register_collector_version WHERE type = ?), 'available', 'stable')
       ON DUPLICATE KEY UPDATE route = VALUES(route), settings_schema = VALUES(settings_schema), secrets = VALUES(secrets),
         strategy_schema = VALUES(strategy_schema), registered_at = CURRENT_TIMESTAMP(3)`,
      [
        v.type,
        v.version,
        v.route,
        JSON.stringify(v.settingsSchema),
        JSON.stringify(v.secrets),
        v.strategySchema ? JSON.stringify(v.strategySchema) : null,
        v.type,
      ],
    );
  }

  async list(): Promise<CollectorVersion[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      'SELECT * FROM register_collector_version ORDER BY type, version',
    );
    return rows.map(toVersion);
  }

  async versionsOf(type: string): Promise<CollectorVersion[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      'SELECT * FROM register_collector_version WHERE type = ? ORDER BY version',
      [type],
    );
    return rows.map(toVersion);
  }

  /**
   * Makes `version` the stable version of its type (the one before becomes available again) and
   * ends the releases whose candidate it was: they now run it as stable. One transaction, so a
   * trigger reads either the old stable version and the releases, or the new one and none.
   */
  async promote(type: string, version: string): Promise<void> {
    // (promoted_at is assigned first: MariaDB assigns left to right, so it reads the old status.)
    await inTransaction(this.db, async (conn) => {
      await conn.query('SELECT version FROM register_collector_version WHERE type = ? FOR UPDATE', [type]);
      await conn.query(
        `UPDATE register_collector_version
            SET promoted_at = IF(version = ? AND status <> 'stable', CURRENT_TIMESTAMP(3), promoted_at),
                status = IF(version = ?, 'stable', 'available')
          WHERE type = ?`,
        [version, version, type],
      );
      await conn.query(
        `DELETE r FROM register_job_release r JOIN register_job j ON j.id = r.job_id
          WHERE j.collector = ? AND r.version = ?`,
        [type, version],
      );
    });
  }

  /** The stable version of a type, if the type is registered. */
  async stable(type: string): Promise<CollectorVersion | undefined> {
    return (await this.versionsOf(type)).find((v) => v.status === 'stable');
  }
}
