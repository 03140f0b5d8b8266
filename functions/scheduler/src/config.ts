import { commonConfigSchema, configLoader } from '@collect/common';
import { z } from 'zod';

/** platform-scheduler's settings: the common ones and its own. */
export const schedulerConfigSchema = commonConfigSchema.extend({
  /** Where the register's API answers (its `POST /api/jobs/{id}/trigger` starts a job's run). */
  REGISTER_API_URL: z.string().url().default('http://127.0.0.1:3000'),
  /** A fire at most this late is on time; later ones were missed (misfire policy). */
  SCHEDULE_GRACE_MS: z.coerce.number().int().min(1000).default(120_000),
  /** Most due schedules one tick claims (the next tick takes the rest). */
  SCHEDULE_TICK_BATCH: z.coerce.number().int().min(1).default(500),
  /** Fires one tick triggers at once. */
  SCHEDULE_TRIGGER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  /** A fire claimed but not settled for this long (its tick died) is triggered again, under the same key. */
  SCHEDULE_STUCK_FIRE_MS: z.coerce.number().int().min(0).default(60_000),
});

export type Config = z.infer<typeof schedulerConfigSchema>;

export const loadConfig = configLoader(schedulerConfigSchema);
