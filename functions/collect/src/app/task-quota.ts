import { HttpError } from '@collect/common';
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';

/** Seconds a start refused for the tenant's quota is told to wait (Retry-After). */
const QUOTA_RETRY_AFTER_SECONDS = 30;

/**
 * A tenant with a quota of tasks (`PUT /api/flow/tenant:{id}` `{ tasks }`) starts no task (a
 * run or an import) beyond it: 429 with the count and Retry-After, nothing written. The quota's row is locked for the
 * start's transaction, so two starts of one tenant cannot both take the last place.
 */
export async function withinTaskQuota(conn: PoolConnection, tenantId: string): Promise<void> {
  const [quota] = await conn.query<RowDataPacket[]>(
    'SELECT tasks FROM flow_limit WHERE flow_key = ? AND tasks IS NOT NULL FOR UPDATE',
    [`tenant:${tenantId}`],
  );
  const limit = quota[0]?.tasks as number | undefined;
  if (limit === undefined || limit === null) return;
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM collect_task WHERE tenant_id = ?
        AND state NOT IN ('COMPLETED', 'PARTIALLY_COMPLETED', 'FAILED', 'STOPPED')`,
    [tenantId],
  );
  const unfinished = Number(rows[0]?.n ?? 0);
  if (unfinished >= Number(limit))
    throw new HttpError(
      429,
      'TOO_MANY_TASKS',
      Number(limit) === 0
        ? `tenant "${tenantId}" has a quota of 0 tasks: nothing starts until the quota is raised (PUT /api/flow/tenant:${tenantId})`
        : `tenant "${tenantId}" has ${unfinished} unfinished task(s), its quota is ${limit}: start it again once one ends`,
      { tenant: tenantId, quota: Number(limit), unfinished },
      { retryAfterSeconds: QUOTA_RETRY_AFTER_SECONDS },
    );
}
