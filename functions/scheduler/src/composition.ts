import { mysqlPool } from '@collect/common';
import { HttpJobs } from './adapters/jobs.http';
import { ScheduleStore } from './adapters/schedules.mysql';
import type { ScheduleDeps } from './app/schedules';
import { loadConfig } from './config';

let services: (ScheduleDeps & { batch: number }) | undefined;

/** The container's services, built on first use: the one place that picks adapters. */
export function getServices(): ScheduleDeps & { batch: number } {
  if (!services) {
    const config = loadConfig();
    services = {
      schedules: new ScheduleStore(mysqlPool()),
      jobs: new HttpJobs(config.REGISTER_API_URL),
      graceMs: config.SCHEDULE_GRACE_MS,
      batch: config.SCHEDULE_TICK_BATCH,
      now: () => new Date(),
    };
  }
  return services;
}
