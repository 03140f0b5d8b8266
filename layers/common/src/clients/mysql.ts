import mysql, { type Pool, type PoolConnection, type RowDataPacket } from 'mysql2/promise';
import { loadConfig } from '../config';

let pool: Pool | undefined;

/** A JSON column's value: MariaDB returns JSON columns as text, MySQL as values (`null` stays `null`). */
export const jsonColumn = <T = unknown>(v: unknown): T =>
  (typeof v === 'string' ? JSON.parse(v) : (v ?? null)) as T;

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

/** How many times a transaction the server chose as a deadlock victim is run again. */
const DEADLOCK_ATTEMPTS = 4;

const isDeadlock = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'ER_LOCK_DEADLOCK';

/**
 * Runs `fn` in one transaction; commits on success, rolls back and rethrows on failure. When the
 * server picks the transaction as a deadlock victim (it rolled it back whole), `fn` runs again,
 * as the server advises, after a short random pause: concurrent shards of one task touch the
 * same task and shard rows, so an occasional deadlock is expected, not an error. `fn` must only
 * do work inside the transaction.
 */
export async function inTransaction<T>(db: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await runOnce(db, fn);
    } catch (err) {
      if (!isDeadlock(err) || attempt >= DEADLOCK_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
    }
  }
}

/**
 * Runs `fn` on one connection in a read-only transaction with a consistent snapshot: every query
 * in it sees the database as of its start, so a reader that needs several queries never sees a
 * change committed in between (MariaDB's REPEATABLE READ, InnoDB's MVCC; no locks taken).
 */
export async function inReadSnapshot<T>(db: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
  const conn = await db.getConnection();
  try {
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const result = await fn(conn);
    await conn.query('COMMIT');
    return result;
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    conn.release();
  }
}

async function runOnce<T>(db: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
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

/**
 * Runs `fn` in a transaction while holding MySQL's named lock `name`: taken before the
 * transaction begins and released after it commits, so the next holder reads what this one
 * committed (a lock released inside the transaction would let it read the state before). Waits
 * up to `waitSeconds` for the lock, then throws `busy()`.
 */
export async function inTransactionUnderLock<T>(
  db: Pool,
  name: string,
  fn: (conn: PoolConnection) => Promise<T>,
  busy: () => Error,
  waitSeconds = 10,
): Promise<T> {
  const conn = await db.getConnection();
  try {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [name, waitSeconds]);
    if (Number(rows[0]?.got) !== 1) throw busy();
    try {
      for (let attempt = 1; ; attempt += 1) {
        await conn.beginTransaction();
        try {
          const result = await fn(conn);
          await conn.commit();
          return result;
        } catch (err) {
          await conn.rollback().catch(() => undefined);
          if (!isDeadlock(err) || attempt >= DEADLOCK_ATTEMPTS) throw err;
        }
      }
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
    }
  } finally {
    conn.release();
  }
}

export async function closeMysql(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.end();
}
