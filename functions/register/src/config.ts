import { commonConfigSchema, configLoader } from '@collect/common';
import type { z } from 'zod';

/** platform-register's settings: the common ones (it has none of its own yet). */
export const registerConfigSchema = commonConfigSchema;

export type Config = z.infer<typeof registerConfigSchema>;

export const loadConfig = configLoader(registerConfigSchema);
