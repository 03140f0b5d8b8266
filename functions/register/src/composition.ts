import { confirmChannel, mysqlPool, topology } from '@collect/common';
import type { Pool } from 'mysql2/promise';
import { CollectorCatalog } from './adapters/catalog.mysql';
import { ChainSteps } from './adapters/chain.mysql';
import { RabbitJobAnnouncer } from './adapters/job-announcer.rabbitmq';
import { JobStore } from './adapters/jobs.mysql';
import { ReleaseStore } from './adapters/releases.mysql';
import { HttpTaskStarter } from './adapters/task-starter.http';
import { loadConfig } from './config';
import type { JobAnnouncer, TaskStarter } from './ports';

export interface Services {
  db: Pool;
  catalog: CollectorCatalog;
  jobs: JobStore;
  starter: TaskStarter;
  chain: ChainSteps;
  releases: ReleaseStore;
  announcer: JobAnnouncer;
}

/** Wiring: the one place that picks adapters. Tests call it with their own pool. */
export const buildServices = (db: Pool, starter: TaskStarter, announcer: JobAnnouncer): Services => ({
  db,
  catalog: new CollectorCatalog(db),
  jobs: new JobStore(db),
  starter,
  chain: new ChainSteps(db),
  releases: new ReleaseStore(db),
  announcer,
});

let services: Services | undefined;

/** The container's services, built on first use and reused by every invocation. */
export function getServices(): Services {
  if (!services) {
    const config = loadConfig();
    services = buildServices(
      mysqlPool(),
      new HttpTaskStarter(config.COLLECT_API_URL, config.INTERNAL_API_KEY),
      new RabbitJobAnnouncer(() => confirmChannel(config.AMQP_URL), topology(config.AMQP_PREFIX)),
    );
  }
  return services;
}
