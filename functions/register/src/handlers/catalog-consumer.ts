import { consumerHandler } from '@collect/common';
import { catalogEntrySchema, registerCollector } from '../app/catalog';
import { getServices } from '../composition';

/**
 * RabbitMQ consumer of the `catalog` queue: records each collector version a collector service
 * announced (on setup or deploy). Idempotent: an announcement sent again updates the same row.
 */
export const handler = consumerHandler(catalogEntrySchema, async (entry) => {
  await registerCollector(getServices().catalog, entry);
});
