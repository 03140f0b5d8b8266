import { HttpError, inTransactionUnderLock, jsonColumn } from '@collect/common';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';

export type Mode = 'FULL' | 'INCREMENTAL' | 'RANGE';

/** What a user says of a job. */
export interface JobBody {
  name: string;
  collector: string;
  source: string;
  settings: Record<string, unknown>;
  strategy?: Record<string, unknown> | undefined;
  defaultMode: Mode;
  dependsOn: string[];
}

export interface Job extends JobBody {
  id: string;
  tenantId: string;
  version: number;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const toJob = (r: RowDataPacket): Job => ({
  id: r.id,
  tenantId: r.tenant_id,
  version: r.version,
  name: r.name,
  collector: r.collector,
  source: r.source,
  settings: jsonColumn(r.settings),
  strategy: r.strategy === null ? undefined : jsonColumn(r.strategy),
  defaultMode: r.default_mode,
  dependsOn: jsonColumn(r.depends_on),
  enabled: r.enabled === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Jobs and their versions in MySQL. Each save is one transaction: the job row and its version. */
export class JobStore {
  constructor(private readonly db: Pool) {}

  async get(
    tenantId: string,
    id: string,
    conn: Pool | PoolConnection = this.db,
    lock = false,
  ): Promise<Job | undefined> {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT * FROM register_job WHERE id = ? AND tenant_id = ?${lock ? ' FOR UPDATE' : ''}`,
      [id, tenantId],
    );
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  /** The dependency edges of the tenant's enabled jobs (job → the jobs it depends on). */
  async edges(tenantId: string, conn: Pool | PoolConnection = this.db): Promise<Map<string, string[]>> {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT id, depends_on FROM register_job WHERE tenant_id = ? AND enabled = 1',
      [tenantId],
    );
    return new Map(rows.map((r) => [r.id as string, jsonColumn<string[]>(r.depends_on)]));
  }

  /** Every tenant's enabled jobs of a collector type (for a promotion's check of their settings). */
  async enabledOf(
    collector: string,
  ): Promise<{ id: string; tenantId: string; settings: Record<string, unknown> }[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      'SELECT id, tenant_id, settings FROM register_job WHERE collector = ? AND enabled = 1',
      [collector],
    );
    return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id, settings: jsonColumn(r.settings) }));
  }

  /** The tenant's jobs newest first, from after `cursor` (the last id of the previous page). */
  async list(tenantId: string, limit: number, after?: { createdAt: Date; id: string }): Promise<Job[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT * FROM register_job WHERE tenant_id = ?
         ${after ? 'AND (created_at, id) < (?, ?)' : ''}
       ORDER BY created_at DESC, id DESC LIMIT ?`,
      after ? [tenantId, after.createdAt, after.id, limit] : [tenantId, limit],
    );
    return rows.map(toJob);
  }

  /**
   * Saves a job's new version (1 for a new job) in one transaction, after `check` ran on the
   * tenant's dependency edges under a lock (two changes cannot close a cycle between them).
   */
  async save(
    tenantId: string,
    id: string,
    body: JobBody,
    check: (edges: Map<string, string[]>, current: Job | undefined) => void,
  ): Promise<Job> {
    return this.changingJobsOf(tenantId, async (conn) => {
      const current = await this.get(tenantId, id, conn, true);
      check(await this.edges(tenantId, conn), current);
      const version = (current?.version ?? 0) + 1;
      await conn.query(
        `INSERT INTO register_job (id, tenant_id, version, name, collector, source, settings, strategy, default_mode, depends_on)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE version = VALUES(version), name = VALUES(name), collector = VALUES(collector),
           source = VALUES(source), settings = VALUES(settings), strategy = VALUES(strategy),
           default_mode = VALUES(default_mode), depends_on = VALUES(depends_on)`,
        [
          id,
          tenantId,
          version,
          body.name,
          body.collector,
          body.source,
          JSON.stringify(body.settings),
          body.strategy ? JSON.stringify(body.strategy) : null,
          body.defaultMode,
          JSON.stringify(body.dependsOn),
        ],
      );
      await conn.query('INSERT INTO register_job_version (job_id, version, body) VALUES (?, ?, ?)', [
        id,
        version,
        JSON.stringify(body),
      ]);
      // A release names a version of the job's collector: another collector ends it.
      if (current && current.collector !== body.collector)
        await conn.query('DELETE FROM register_job_release WHERE job_id = ?', [id]);
      return (await this.get(tenantId, id, conn)) as Job;
    });
  }

  /**
   * Disables a job (its history stays) unless enabled jobs depend on it: their ids come back
   * instead. Under the tenant's lock, so a job cannot gain a dependant while it is disabled.
   */
  async disable(tenantId: string, id: string): Promise<{ dependants: string[] }> {
    return this.changingJobsOf(tenantId, async (conn) => {
      const dependants = [...(await this.edges(tenantId, conn))]
        .filter(([job, on]) => job !== id && on.includes(id))
        .map(([job]) => job);
      if (dependants.length === 0)
        await conn.query('UPDATE register_job SET enabled = 0 WHERE id = ? AND tenant_id = ?', [
          id,
          tenantId,
        ]);
      return { dependants };
    });
  }

  /**
   * One writer of a tenant's jobs at a time, in one transaction: a dependency check reads all
   * of them, so two changes cannot close a cycle, or depend on a job being disabled, between them.
   */
  private changingJobsOf<T>(tenantId: string, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    return inTransactionUnderLock(
      this.db,
      `register_jobs/${tenantId}`,
      work,
      () => new HttpError(503, 'BUSY', `the jobs of tenant "${tenantId}" are being changed: try again`),
    );
  }
}
