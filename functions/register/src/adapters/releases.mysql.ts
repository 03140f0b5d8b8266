import { inTransaction, jsonColumn } from '@collect/common';
import type { Pool, RowDataPacket } from 'mysql2/promise';

/** A job's gray release: the candidate version, the share of runs it gets, the tenants it gets whole. */
export interface JobRelease {
  jobId: string;
  version: string;
  percent: number;
  tenants: string[];
  updatedAt: Date;
}

const toRelease = (r: RowDataPacket): JobRelease => ({
  jobId: r.job_id,
  version: r.version,
  percent: Number(r.percent),
  tenants: jsonColumn(r.tenants),
  updatedAt: r.updated_at,
});

/** Jobs' releases in MySQL (one per job at most; a new one replaces the old). */
export class ReleaseStore {
  constructor(private readonly db: Pool) {}

  async get(tenantId: string, jobId: string): Promise<JobRelease | undefined> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      'SELECT * FROM register_job_release WHERE job_id = ? AND tenant_id = ?',
      [jobId, tenantId],
    );
    return rows[0] ? toRelease(rows[0]) : undefined;
  }

  /**
   * Saves a job's release of `collector`'s version, unless that version is stable by then: the
   * version's row is locked as a promotion locks it, so a release and a promotion of the same
   * version cannot both go through. Returns undefined when the version was stable.
   */
  async put(
    tenantId: string,
    collector: string,
    r: Omit<JobRelease, 'updatedAt'>,
  ): Promise<JobRelease | undefined> {
    return inTransaction(this.db, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        'SELECT status FROM register_collector_version WHERE type = ? AND version = ? FOR UPDATE',
        [collector, r.version],
      );
      if (rows[0]?.status !== 'available') return undefined;
      await conn.query(
        `INSERT INTO register_job_release (job_id, tenant_id, version, percent, tenants) VALUES (?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE version = VALUES(version), percent = VALUES(percent), tenants = VALUES(tenants)`,
        [r.jobId, tenantId, r.version, r.percent, JSON.stringify(r.tenants)],
      );
      const [saved] = await conn.query<RowDataPacket[]>(
        'SELECT * FROM register_job_release WHERE job_id = ?',
        [r.jobId],
      );
      return saved[0] ? toRelease(saved[0]) : undefined;
    });
  }

  /** Ends a job's release; false when it had none. */
  async delete(tenantId: string, jobId: string): Promise<boolean> {
    const [res] = await this.db.query('DELETE FROM register_job_release WHERE job_id = ? AND tenant_id = ?', [
      jobId,
      tenantId,
    ]);
    return (res as { affectedRows: number }).affectedRows === 1;
  }

  /**
   * What routes a run of a job, in one read: the type's stable version (undefined when the type
   * is not registered) and the job's release, if its candidate is still registered.
   */
  async routing(
    tenantId: string,
    jobId: string,
    collector: string,
  ): Promise<{ stable?: string; candidate?: { version: string; percent: number; tenants: string[] } }> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT (SELECT version FROM register_collector_version WHERE type = ? AND status = 'stable') AS stable,
              r.version, r.percent, r.tenants
         FROM (SELECT 1) one
         LEFT JOIN register_job_release r ON r.job_id = ? AND r.tenant_id = ?
          AND EXISTS (SELECT 1 FROM register_collector_version v WHERE v.type = ? AND v.version = r.version)`,
      [collector, jobId, tenantId, collector],
    );
    const r = rows[0];
    return {
      ...(r?.stable ? { stable: r.stable as string } : {}),
      ...(r?.version
        ? {
            candidate: {
              version: r.version as string,
              percent: Number(r.percent),
              tenants: jsonColumn<string[]>(r.tenants),
            },
          }
        : {}),
    };
  }

  /** How many releases (any tenant's) route runs to each version of a collector type. */
  async countsByVersion(): Promise<Map<string, number>> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT CONCAT(j.collector, '@', r.version) AS route, COUNT(*) AS n
         FROM register_job_release r JOIN register_job j ON j.id = r.job_id
        WHERE j.enabled = 1 GROUP BY j.collector, r.version`,
    );
    return new Map(rows.map((r) => [r.route as string, Number(r.n)]));
  }
}
