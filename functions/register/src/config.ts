import { commonConfigSchema, configLoader } from '@collect/common';
import { z } from 'zod';

/** platform-register's settings: the common ones and its own. */
export const registerConfigSchema = commonConfigSchema.extend({
  /** Where collect's API answers (its `POST /api/tasks` starts the runs of jobs). */
  COLLECT_API_URL: z.string().url().default('http://127.0.0.1:3000'),
});

export type Config = z.infer<typeof registerConfigSchema>;

export const loadConfig = configLoader(registerConfigSchema);
