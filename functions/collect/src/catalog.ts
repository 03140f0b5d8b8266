import { z } from 'zod';
import { collectorRegistry } from './collectors/registry';
import type { Config } from './config';
import { strategySchema } from './schemas';

/** A collector version as this service announces it to the register (its catalog entry). */
export interface CatalogEntry {
  type: string;
  version: string;
  route: string;
  /** JSON Schema of its settings, generated from the collector's own zod schema. */
  settingsSchema: Record<string, unknown>;
  secrets: string[];
  /** JSON Schema of a run's `strategy` (the same for every collector of this service). */
  strategySchema: Record<string, unknown>;
}

/**
 * The catalog entries of every collector this service runs. Checks a JSON Schema cannot express
 * (an http(s) URL without credentials, say) stay with the collector: a run is checked again when
 * it starts.
 */
export function catalogEntries(config: Config): CatalogEntry[] {
  return collectorRegistry(config)
    .all()
    .map((c) => ({
      type: c.type,
      version: c.version,
      route: c.route,
      settingsSchema: z.toJSONSchema(c.settings as unknown as z.ZodType, {
        unrepresentable: 'any',
      }) as Record<string, unknown>,
      secrets: [...c.secrets],
      strategySchema: z.toJSONSchema(strategySchema) as Record<string, unknown>,
    }));
}
