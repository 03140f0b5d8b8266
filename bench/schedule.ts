/**
 * `npm run bench:schedule` — many schedules due in the same minute, ticks racing over them.
 *
 * BENCH_SCHEDULES (10,000) jobs, each with its own source and a schedule due at one instant a
 * few seconds ahead, are written straight to MySQL (setup, not measured). At the instant,
 * BENCH_TICKS (2) ticks start at once, each as its own invocation would (its own MySQL pool),
 * and each keeps ticking until nothing is due. A fire goes the whole way the platform takes it:
 * the scheduler's claim (FOR UPDATE SKIP LOCKED) → the register's trigger (job, catalog, release)
 * → collect's start of the run (source taken, task recorded, plan message confirmed by RabbitMQ
 * in the same transaction). Only the HTTP hops between the three services are left out: the
 * services are called in-process, so the figures are the platform's own work and its stores'.
 *
 * Prints: lateness of each task (its creation time minus the due instant) p50 / p99 / max, the
 * time to the last task, fires per second, and double fires: fires the scheduler triggered
 * more than once, and fires with more than one task. Targets: 0 doubles, p99 ≤ 10 s.
 * Env: BENCH_SCHEDULES (10000), BENCH_TICKS (2), SCHEDULE_TICK_BATCH (500),
 * SCHEDULE_TRIGGER_CONCURRENCY (16), plus the README's service URLs.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createMysqlPool } from '@collect/common';
import type { RowDataPacket } from 'mysql2/promise';
import { startRun } from '../functions/collect/src/app/runs';
import { catalogEntries } from '../functions/collect/src/catalog';
import { buildServices } from '../functions/collect/src/composition';
import { CollectorCatalog } from '../functions/register/src/adapters/catalog.mysql';
import { JobStore } from '../functions/register/src/adapters/jobs.mysql';
import { ReleaseStore } from '../functions/register/src/adapters/releases.mysql';
import { registerCollector } from '../functions/register/src/app/catalog';
import { triggerJob } from '../functions/register/src/app/jobs';
import { ScheduleStore } from '../functions/scheduler/src/adapters/schedules.mysql';
import { tick } from '../functions/scheduler/src/app/schedules';
import type { Jobs } from '../functions/scheduler/src/ports';
import { createTestEnv } from '../tests/support/test-env';
import { waitFor } from '../tests/support/wait';
import { cpuUse, stackMonitor } from './memory';

const SCHEDULES = Number(process.env.BENCH_SCHEDULES ?? 10_000);
const TICKS = Number(process.env.BENCH_TICKS ?? 2);
const BATCH = Number(process.env.SCHEDULE_TICK_BATCH ?? 500);
const CONCURRENCY = Number(process.env.SCHEDULE_TRIGGER_CONCURRENCY ?? 16);
const TENANT = 'bench';

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const env = await createTestEnv();
  try {
    for (const entry of catalogEntries(env.config))
      await registerCollector(new CollectorCatalog(env.db), entry);
    const settings = { baseUrl: 'https://bench.testrail.io', user: 'bench', apiKey: 'k', projectId: 1 };

    // Setup (not measured): the jobs and their schedules, all due at one instant.
    const due = new Date(Math.ceil((Date.now() + 5000) / 1000) * 1000);
    process.stdout.write(`writing ${SCHEDULES} jobs and schedules due at ${due.toISOString()}…\n`);
    for (let from = 0; from < SCHEDULES; from += 1000) {
      const n = Math.min(1000, SCHEDULES - from);
      const jobs = Array.from({ length: n }, (_, i) => [randomUUID(), from + i] as const);
      await env.db.query(
        `INSERT INTO register_job (id, tenant_id, version, name, collector, source, settings, default_mode, depends_on)
         VALUES ${jobs.map(() => "(?, ?, 1, ?, 'testrail', ?, ?, 'FULL', '[]')").join(', ')}`,
        jobs.flatMap(([id, i]) => [id, TENANT, `job ${i}`, `bench-${i}`, JSON.stringify(settings)]),
      );
      await env.db.query(
        `INSERT INTO scheduler_schedule (id, tenant_id, job_id, cron, timezone, mode, misfire, next_fire_at)
         VALUES ${jobs.map(() => "(?, ?, ?, ?, 'UTC', 'FULL', 'FIRE_ONCE', ?)").join(', ')}`,
        jobs.flatMap(([id]) => [
          randomUUID(),
          TENANT,
          id,
          `${due.getUTCSeconds()} ${due.getUTCMinutes()} ${due.getUTCHours()} * * *`,
          due,
        ]),
      );
    }

    // Each tick is its own invocation: its own pool, the same code the Lambda runs.
    const triggers = new Map<string, number>();
    // Its calls to the register and collect each land on a container with a pool of its own (as
    // concurrent Lambda invocations do): here, one pool and one RabbitMQ channel per tick.
    const tickers = await Promise.all(
      Array.from({ length: TICKS }, async () => {
        const db = createMysqlPool(env.config.MYSQL_URL, CONCURRENCY + 2);
        const channel = await env.amqp.createConfirmChannel();
        channel.setMaxListeners(0);
        const collect = buildServices(env.config, {
          db,
          mongo: env.mongo,
          redis: env.redis,
          channel: async () => channel,
        });
        const register = {
          catalog: new CollectorCatalog(db),
          jobs: new JobStore(db),
          releases: new ReleaseStore(db),
          starter: {
            start: (tenantId: string, run: unknown) => startRun(collect, tenantId, run, { internal: true }),
          },
        };
        const jobs: Jobs = {
          exists: async () => true,
          trigger: async (tenantId, jobId, mode, trigger) => {
            const key = `${trigger.scheduleId}@${trigger.fireTime}`;
            triggers.set(key, (triggers.get(key) ?? 0) + 1);
            return triggerJob(register, tenantId, jobId, { mode, trigger }, { internal: true });
          },
        };
        const deps = {
          schedules: new ScheduleStore(db),
          jobs,
          graceMs: 120_000,
          batch: BATCH,
          concurrency: CONCURRENCY,
          stuckFireMs: 60_000,
          now: () => new Date(),
        };
        return { db, channel, deps };
      }),
    );

    // CPU of every process while the ticks run: the services share this machine's cores.
    const monitor = stackMonitor({ processGroups: () => new Map() });
    await waitFor('the due instant', async () => Date.now() >= due.getTime() || undefined, 30_000, 5);
    const cpuBefore = monitor.cpu();
    const started = Date.now();
    const outcomes = await Promise.all(
      tickers.map(async ({ deps }) => {
        let fired = 0;
        let skipped = 0;
        for (;;) {
          const r = await tick(deps, new Date());
          fired += r.fired;
          skipped += r.skipped;
          if (r.claimed === 0) return { fired, skipped };
        }
      }),
    );
    const wall = Date.now() - started;
    const cpuAfter = monitor.cpu();
    for (const { db, channel } of tickers) {
      await channel.close();
      await db.end();
    }

    const [tasks] = await env.db.query<RowDataPacket[]>(
      'SELECT trigger_key, created_at FROM collect_task WHERE tenant_id = ?',
      [TENANT],
    );
    const lateness = tasks.map((t) => (t.created_at as Date).getTime() - due.getTime()).sort((a, b) => a - b);
    const [perFire] = await env.db.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM (SELECT trigger_key FROM collect_task WHERE tenant_id = ?
         GROUP BY trigger_key HAVING COUNT(*) > 1) d`,
      [TENANT],
    );
    const doubleTriggers = [...triggers.values()].filter((n) => n > 1).length;
    const fired = outcomes.reduce((n, o) => n + o.fired, 0);
    const skipped = outcomes.reduce((n, o) => n + o.skipped, 0);
    const last = lateness.at(-1) ?? Number.NaN;

    console.log(
      `\nschedules due at one instant: ${SCHEDULES}; ticks racing: ${TICKS} (batch ${BATCH}, ${CONCURRENCY} triggers at once each)`,
    );
    console.log(
      `fired: ${fired} (per tick: ${outcomes.map((o) => o.fired).join(' / ')}), skipped: ${skipped}, tasks created: ${tasks.length}`,
    );
    console.log(
      `lateness (task created − due): p50 ${secs(pct(lateness, 50))}, p99 ${secs(pct(lateness, 99))}, max ${secs(last)}`,
    );
    console.log(`ticks' wall time: ${secs(wall)}; fires per second: ${(fired / (wall / 1000)).toFixed(0)}`);
    const cpuTotal = [...cpuAfter].reduce((n, [k, v]) => n + v - (cpuBefore.get(k) ?? 0), 0);
    const cores = availableParallelism();
    console.log(
      `CPU seconds while ticking: ${cpuUse(cpuBefore, cpuAfter)} (${cpuTotal.toFixed(1)} of ${((cores * wall) / 1000).toFixed(1)} on ${cores} cores)`,
    );
    console.log(
      `double fires: ${doubleTriggers} triggered twice by the scheduler, ${Number(perFire[0]?.n)} with more than one task`,
    );
    const ok = doubleTriggers === 0 && Number(perFire[0]?.n) === 0 && tasks.length === SCHEDULES;
    console.log(
      `targets: 0 double fires ${ok ? 'met' : 'MISSED'}; p99 ≤ 10 s ${pct(lateness, 99) <= 10_000 ? 'met' : 'MISSED'}`,
    );
    if (!ok) process.exitCode = 1;
  } finally {
    await env.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
