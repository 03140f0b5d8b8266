import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import { loadConfig } from '../config';

let pool: Pool | undefined;

/** Options every pool uses: utf8mb4 end to end, exact big numbers, several statements off. */
export function createMysqlPool(url: string, connectionLimit: number): Pool {
  return mysql.createPool({
    uri: url,
    connectionLimit,
    charset: 'utf8mb4_unicode_ci',
    supportBigNumbers: true,
    bigNumberStrings: false,
    dateStrings: false,
    timezone: 'Z',
    enableKeepAlive: true,
  });
}

/** The container's pool, created on first use and reused across invocations. */
export function mysqlPool(): Pool {
  if (!pool) {
    const cfg = loadConfig();
    pool = createMysqlPool(cfg.MYSQL_URL, cfg.MYSQL_POOL_SIZE);
  }
  return pool;
}

/** Runs `fn` in one transaction; commits on success, rolls back and rethrows on failure. */
export async function inTransaction<T>(db: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
  const conn = await db.getConnection();
  try {
    await conn.beginTransaction();
    const result = await fn(conn);
    await conn.commit();
    return result;
  } catch (err) {
    await conn.rollback().catch(() => undefined);
    throw err;
  } finally {
    conn.release();
  }
}

export async function closeMysql(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.end();
}
