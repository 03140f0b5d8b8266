import { randomUUID } from 'node:crypto';
import { inTransaction } from '@collect/common';
import type { FlowLimit } from '@collect/core';
import type { Redis } from 'ioredis';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { FLOW_LIMITS, FLOW_VERSION } from './flow-control.redis';

export interface StoredFlowLimit extends FlowLimit {
  key: string;
  version: number;
  updatedAt: Date;
}

const toLimit = (r: RowDataPacket): StoredFlowLimit => ({
  key: r.flow_key,
  ...(r.concurrency === null ? {} : { concurrency: Number(r.concurrency) }),
  ...(r.rate_per_second === null ? {} : { ratePerSecond: Number(r.rate_per_second) }),
  ...(r.burst === null ? {} : { burst: Number(r.burst) }),
  ...(r.tasks === null || r.tasks === undefined ? {} : { tasks: Number(r.tasks) }),
  version: Number(r.version),
  updatedAt: r.updated_at,
});

const published = ({ concurrency, ratePerSecond, burst, tasks }: FlowLimit): FlowLimit => ({
  ...(concurrency !== undefined ? { concurrency } : {}),
  ...(ratePerSecond !== undefined ? { ratePerSecond } : {}),
  ...(burst !== undefined ? { burst } : {}),
  ...(tasks !== undefined ? { tasks } : {}),
});

/**
 * Flow limits: MySQL is the truth, Redis what the workers read. A change is written to MySQL,
 * then published to Redis with a new version; if publishing fails, the next change (or a read
 * that finds Redis behind) publishes every limit again, so Redis never stays behind for good.
 */
export class FlowLimits {
  constructor(
    private readonly db: Pool,
    private readonly redis: Redis,
  ) {}

  async put(key: string, limit: FlowLimit): Promise<StoredFlowLimit> {
    const saved = await inTransaction(this.db, async (conn) => {
      await conn.query(
        `INSERT INTO flow_limit (flow_key, concurrency, rate_per_second, burst, tasks, version)
         SELECT ?, ?, ?, ?, ?, COALESCE(MAX(version), 0) + 1 FROM flow_limit
         ON DUPLICATE KEY UPDATE concurrency = VALUES(concurrency), rate_per_second = VALUES(rate_per_second),
           burst = VALUES(burst), tasks = VALUES(tasks), version = VALUES(version)`,
        [
          key,
          limit.concurrency ?? null,
          limit.ratePerSecond ?? null,
          limit.burst ?? null,
          limit.tasks ?? null,
        ],
      );
      const [rows] = await conn.query<RowDataPacket[]>('SELECT * FROM flow_limit WHERE flow_key = ?', [key]);
      return toLimit(rows[0] as RowDataPacket);
    });
    await this.publish();
    return saved;
  }

  async delete(key: string): Promise<boolean> {
    const [res] = await this.db.query('DELETE FROM flow_limit WHERE flow_key = ?', [key]);
    await this.publish();
    return (res as { affectedRows: number }).affectedRows === 1;
  }

  async get(key: string): Promise<StoredFlowLimit | undefined> {
    const [rows] = await this.db.query<RowDataPacket[]>('SELECT * FROM flow_limit WHERE flow_key = ?', [key]);
    return rows[0] ? toLimit(rows[0]) : undefined;
  }

  async list(): Promise<StoredFlowLimit[]> {
    const [rows] = await this.db.query<RowDataPacket[]>('SELECT * FROM flow_limit ORDER BY flow_key');
    return rows.map(toLimit);
  }

  /**
   * Publishes every limit with a new version, in one transaction of Redis's: a worker reads the
   * old set or the new one. Deletions are published too (the hash is replaced).
   */
  async publish(): Promise<void> {
    const all = await this.list();
    const m = this.redis.multi().del(FLOW_LIMITS);
    if (all.length > 0)
      m.hset(FLOW_LIMITS, Object.fromEntries(all.map((l) => [l.key, JSON.stringify(published(l))])));
    // A fresh token, not a counter: a counter starts again at 1 when Redis loses it, and a
    // worker that cached version 1 before would not see the limits change.
    await m.set(FLOW_VERSION, `${Date.now()}-${randomUUID()}`).exec();
  }
}
