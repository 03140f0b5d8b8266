import { mysqlPool } from '@collect/common';
import { HttpJobs } from './adapters/jobs.http';
import { ScheduleStore } from './adapters/schedules.mysql';
import type { ScheduleDeps, TickOptions } from './app/schedules';
import { loadConfig } from './config';

let services: (ScheduleDeps & TickOptions) | undefined;

/** The container's services, built on first use: the one place that picks adapters. */
export function getServices(): ScheduleDeps & TickOptions {
  if (!services) {
    const config = loadConfig();
    services = {
      schedules: new ScheduleStore(mysqlPool()),
      jobs: new HttpJobs(config.REGISTER_API_URL, config.INTERNAL_API_KEY),
      graceMs: config.SCHEDULE_GRACE_MS,
      batch: config.SCHEDULE_TICK_BATCH,
      concurrency: config.SCHEDULE_TRIGGER_CONCURRENCY,
      stuckFireMs: config.SCHEDULE_STUCK_FIRE_MS,
      now: () => new Date(),
    };
  }
  return services;
}
