import { inTransaction, type PagePosition } from '@collect/common';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { Misfire, TickDecision } from '../domain/schedule';

export interface Schedule {
  id: string;
  tenantId: string;
  jobId: string;
  cron: string;
  timezone: string;
  mode: 'FULL' | 'INCREMENTAL' | 'RANGE';
  misfire: Misfire;
  paused: boolean;
  nextFireAt: Date | null;
  createdAt: Date;
}

/** A fire claimed by a tick: recorded FIRING, its job still to be triggered. */
export interface ClaimedFire {
  schedule: Schedule;
  fireTime: Date;
  missed: number;
}

const toSchedule = (r: RowDataPacket): Schedule => ({
  id: r.id,
  tenantId: r.tenant_id,
  jobId: r.job_id,
  cron: r.cron,
  timezone: r.timezone,
  mode: r.mode,
  misfire: r.misfire,
  paused: r.paused === 1,
  nextFireAt: r.next_fire_at,
  createdAt: r.created_at,
});

/** Schedules and their fires in MySQL. */
export class ScheduleStore {
  constructor(private readonly db: Pool) {}

  async create(s: Omit<Schedule, 'paused' | 'createdAt'>): Promise<void> {
    await this.db.query(
      `INSERT INTO scheduler_schedule (id, tenant_id, job_id, cron, timezone, mode, misfire, next_fire_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [s.id, s.tenantId, s.jobId, s.cron, s.timezone, s.mode, s.misfire, s.nextFireAt],
    );
  }

  async get(tenantId: string, id: string): Promise<Schedule | undefined> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      'SELECT * FROM scheduler_schedule WHERE id = ? AND tenant_id = ? AND deleted = 0',
      [id, tenantId],
    );
    return rows[0] ? toSchedule(rows[0]) : undefined;
  }

  /** The tenant's schedules (of one job), newest first, from after `after`. */
  async list(
    tenantId: string,
    q: { jobId?: string | undefined; limit: number; after?: PagePosition | undefined },
  ): Promise<Schedule[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT * FROM scheduler_schedule WHERE tenant_id = ? AND deleted = 0 ${q.jobId ? 'AND job_id = ?' : ''}
         ${q.after ? 'AND (created_at, id) < (?, ?)' : ''}
       ORDER BY created_at DESC, id DESC LIMIT ?`,
      [tenantId, ...(q.jobId ? [q.jobId] : []), ...(q.after ? [q.after.createdAt, q.after.id] : []), q.limit],
    );
    return rows.map(toSchedule);
  }

  /** Pauses or resumes (resuming sets the next due time); false when there is no such schedule. */
  async setPaused(tenantId: string, id: string, paused: boolean, nextFireAt: Date | null): Promise<boolean> {
    const [res] = await this.db.query(
      `UPDATE scheduler_schedule SET paused = ?, next_fire_at = IF(?, next_fire_at, ?)
        WHERE id = ? AND tenant_id = ? AND deleted = 0`,
      [paused, paused, nextFireAt, id, tenantId],
    );
    return (res as { affectedRows: number }).affectedRows === 1;
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const [res] = await this.db.query(
      'UPDATE scheduler_schedule SET deleted = 1, next_fire_at = NULL WHERE id = ? AND tenant_id = ? AND deleted = 0',
      [id, tenantId],
    );
    return (res as { affectedRows: number }).affectedRows === 1;
  }

  /** Deletes every schedule of a job (its job was disabled); their fires stay. Returns how many. */
  async deleteOfJob(tenantId: string, jobId: string): Promise<number> {
    const [res] = await this.db.query(
      'UPDATE scheduler_schedule SET deleted = 1, next_fire_at = NULL WHERE tenant_id = ? AND job_id = ? AND deleted = 0',
      [tenantId, jobId],
    );
    return (res as { affectedRows: number }).affectedRows;
  }

  /**
   * Claims up to `limit` due schedules in one transaction (`FOR UPDATE SKIP LOCKED`: ticks running
   * at once take different rows), asks `decide` what each does, records its fire (the fire row's
   * key makes a second fire of one instant impossible) or the fires it skipped, and moves it to
   * its next due time. The claimed fires are triggered after the commit.
   */
  async claimDue(now: Date, limit: number, decide: (s: Schedule) => TickDecision): Promise<ClaimedFire[]> {
    return inTransaction(this.db, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT * FROM scheduler_schedule WHERE paused = 0 AND deleted = 0 AND next_fire_at <= ?
          ORDER BY next_fire_at LIMIT ? FOR UPDATE SKIP LOCKED`,
        [now, limit],
      );
      if (rows.length === 0) return [];
      const decided = rows.map((r) => {
        const schedule = toSchedule(r);
        return { schedule, d: decide(schedule) };
      });
      // A few statements per batch, not two per schedule: the fires already recorded (an instant
      // fires once, whatever moved next_fire_at back), then every new fire and skip in one insert,
      // then every schedule's next due time in one update. The rows are locked: nobody else
      // records a fire of these schedules meanwhile.
      type FireRow = {
        schedule: Schedule;
        at: Date;
        state: 'FIRING' | 'SKIPPED';
        missed: number;
        reason: string | null;
      };
      const fireRows = decided.flatMap(({ schedule, d }): FireRow[] =>
        d.fire
          ? [{ schedule, at: d.fire, state: 'FIRING', missed: d.missed, reason: null }]
          : d.missed > 0
            ? [
                {
                  schedule,
                  at: schedule.nextFireAt as Date,
                  state: 'SKIPPED',
                  missed: d.missed,
                  reason: `${d.missed} fire(s) missed while the scheduler was down (misfire SKIP)`,
                },
              ]
            : [],
      );
      const seen = new Set<string>();
      if (fireRows.length > 0) {
        const [existing] = await conn.query<RowDataPacket[]>(
          `SELECT schedule_id, fire_time FROM scheduler_fire WHERE (schedule_id, fire_time) IN (${fireRows
            .map(() => '(?, ?)')
            .join(', ')})`,
          fireRows.flatMap((f) => [f.schedule.id, f.at]),
        );
        for (const e of existing) seen.add(`${e.schedule_id}@${(e.fire_time as Date).getTime()}`);
      }
      const fresh = fireRows.filter((f) => !seen.has(`${f.schedule.id}@${f.at.getTime()}`));
      if (fresh.length > 0)
        await conn.query(
          `INSERT INTO scheduler_fire (schedule_id, fire_time, state, missed, reason) VALUES ${fresh
            .map(() => '(?, ?, ?, ?, ?)')
            .join(', ')}`,
          fresh.flatMap((f) => [f.schedule.id, f.at, f.state, f.missed, f.reason]),
        );
      await conn.query(
        `UPDATE scheduler_schedule SET next_fire_at = CASE id ${decided.map(() => 'WHEN ? THEN ?').join(' ')} END
          WHERE id IN (${decided.map(() => '?').join(', ')})`,
        [
          ...decided.flatMap(({ schedule, d }) => [schedule.id, d.next]),
          ...decided.map(({ schedule }) => schedule.id),
        ],
      );
      return fresh
        .filter((f) => f.state === 'FIRING')
        .map((f) => ({ schedule: f.schedule, fireTime: f.at, missed: f.missed }));
    });
  }

  /**
   * Fires a tick claimed but never settled (it died, or the register did not answer) for longer
   * than `staleMs`: taken again, each by one tick (`SKIP LOCKED`, and the claim moves their
   * `updated_at`), to be triggered again. The trigger's key makes that safe when the first try
   * did start a task.
   */
  async claimStuckFires(staleMs: number, limit: number): Promise<ClaimedFire[]> {
    return inTransaction(this.db, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT s.*, f.fire_time AS f_fire_time, f.missed AS f_missed
           FROM scheduler_fire f JOIN scheduler_schedule s ON s.id = f.schedule_id
          WHERE f.state = 'FIRING' AND f.updated_at < TIMESTAMPADD(MICROSECOND, ?, NOW(3))
          ORDER BY f.updated_at LIMIT ? FOR UPDATE SKIP LOCKED`,
        [-staleMs * 1000, limit],
      );
      for (const r of rows)
        await conn.query(
          'UPDATE scheduler_fire SET updated_at = NOW(3) WHERE schedule_id = ? AND fire_time = ?',
          [r.id, r.f_fire_time],
        );
      return rows.map((r) => ({ schedule: toSchedule(r), fireTime: r.f_fire_time, missed: r.f_missed }));
    });
  }

  /**
   * What became of claimed fires: each its task, or why none started. One statement for them
   * all (each fire's row exists: it was claimed).
   */
  async settleFires(
    settled: { scheduleId: string; fireTime: Date; outcome: { taskId: string } | { reason: string } }[],
  ): Promise<void> {
    if (settled.length === 0) return;
    await this.db.query(
      `INSERT INTO scheduler_fire (schedule_id, fire_time, state, task_id, reason) VALUES ${settled
        .map(() => '(?, ?, ?, ?, ?)')
        .join(', ')}
       ON DUPLICATE KEY UPDATE state = VALUES(state), task_id = VALUES(task_id), reason = VALUES(reason)`,
      settled.flatMap((f) =>
        'taskId' in f.outcome
          ? [f.scheduleId, f.fireTime, 'FIRED', f.outcome.taskId, null]
          : [f.scheduleId, f.fireTime, 'SKIPPED', null, f.outcome.reason],
      ),
    );
  }

  async fires(scheduleId: string, limit = 50): Promise<RowDataPacket[]> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT fire_time AS fireTime, state, missed, task_id AS taskId, reason FROM scheduler_fire
        WHERE schedule_id = ? ORDER BY fire_time DESC LIMIT ?`,
      [scheduleId, limit],
    );
    return rows;
  }
}
