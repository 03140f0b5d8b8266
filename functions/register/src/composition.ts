import { mysqlPool } from '@collect/common';
import type { Pool } from 'mysql2/promise';
import { CollectorCatalog } from './adapters/catalog.mysql';
import { ChainSteps } from './adapters/chain.mysql';
import { JobStore } from './adapters/jobs.mysql';
import { ReleaseStore } from './adapters/releases.mysql';
import { HttpTaskStarter } from './adapters/task-starter.http';
import { loadConfig } from './config';
import type { TaskStarter } from './ports';

export interface Services {
  db: Pool;
  catalog: CollectorCatalog;
  jobs: JobStore;
  starter: TaskStarter;
  chain: ChainSteps;
  releases: ReleaseStore;
}

/** Wiring: the one place that picks adapters. Tests call it with their own pool. */
export const buildServices = (db: Pool, starter: TaskStarter): Services => ({
  db,
  catalog: new CollectorCatalog(db),
  jobs: new JobStore(db),
  starter,
  chain: new ChainSteps(db),
  releases: new ReleaseStore(db),
});

let services: Services | undefined;

/** The container's services, built on first use and reused by every invocation. */
export function getServices(): Services {
  services ??= buildServices(mysqlPool(), new HttpTaskStarter(loadConfig().COLLECT_API_URL));
  return services;
}
