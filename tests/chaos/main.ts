/**
 * `npm run chaos`: the full chaos run (see chaos.ts), printing what it did and what it found.
 * Exits non-zero when a record is lost or doubled or a task does not end COMPLETED.
 *
 *   CHAOS_KILLS (100)   worker processes SIGKILLed
 *   CHAOS_ROUNDS (10)   rounds of work at least (one import and one TestRail collection each;
 *                       another starts whenever the last has settled)
 *   CHAOS_RESTARTS (1)  restarts of each of RabbitMQ, MariaDB and Redis
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describeReport, runChaos } from './chaos';

const int = (name: string, fallback: number) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a whole number, got ${process.env[name]}`);
  return n;
};

async function main(): Promise<void> {
  execFileSync('bash', [resolve(__dirname, '../../scripts/services.sh')], { stdio: 'inherit' });
  const report = await runChaos({
    port: 3800,
    kills: int('CHAOS_KILLS', 100),
    rounds: Math.max(1, int('CHAOS_ROUNDS', 10)),
    serviceRestarts: int('CHAOS_RESTARTS', 1),
    importShape: [20, 29],
    log: (line) => process.stdout.write(`[chaos] ${line}\n`),
    keepOnTrouble: true,
  });
  process.stdout.write(`\n${describeReport(report)}\n`);
  const failed =
    report.lost + report.duplicated + report.unexpected + report.mongo.lost + report.mongo.duplicated > 0 ||
    report.tasks.some((t) => t.state !== 'COMPLETED');
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`[chaos] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
