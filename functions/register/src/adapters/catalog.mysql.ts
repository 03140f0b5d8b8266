import { jsonColumn } from '@collect/common';
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
  status: 'stable' | 'available';
  registeredAt: Date;
}

const toVersion = (r: RowDataPacket): CollectorVersion => ({
  type: r.type,
  version: r.version,
  route: r.route,
  settingsSchema: jsonColumn(r.settings_schema),
  secrets: jsonColumn(r.secrets),
  status: r.status,
  registeredAt: r.registered_at,
});

/** The collector catalog in MySQL (register owns it; collector services only send it entries). */
export class CollectorCatalog {
  constructor(private readonly db: Pool) {}

  /**
   * Records a version (again: a redeploy updates its schema). The first version of a type is its
   * stable one; later ones are available until a release or a promotion uses them.
   */
  async register(v: Omit<CollectorVersion, 'status' | 'registeredAt'>): Promise<void> {
    await this.db.query(
      `INSERT INTO register_collector_version (type, version, route, settings_schema, secrets, status)
       SELECT ?, ?, ?, ?, ?, IF(EXISTS (SELECT 1 FROM register_collector_version WHERE type = ?), 'available', 'stable')
       ON DUPLICATE KEY UPDATE route = VALUES(route), settings_schema = VALUES(settings_schema), secrets = VALUES(secrets)`,
      [v.type, v.version, v.route, JSON.stringify(v.settingsSchema), JSON.stringify(v.secrets), v.type],
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

  /** The stable version of a type, if the type is registered. */
  async stable(type: string): Promise<CollectorVersion | undefined> {
    return (await this.versionsOf(type)).find((v) => v.status === 'stable');
  }
}
