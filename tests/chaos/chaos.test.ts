import { describe, expect, it } from 'vitest';
import { describeReport, runChaos } from './chaos';

/*
 * The reduced chaos run of `npm test` (`npm run chaos` is the full one): 8 worker processes
 * killed, RabbitMQ, MariaDB and Redis restarted once each, messages delivered twice, poison,
 * limits flipped, over rounds of imports and TestRail collections (a new one whenever the last
 * has settled, so the chaos hits work in flight).
 */
describe('chaos (reduced)', () => {
  it('loses and doubles nothing, and every task ends COMPLETED', async () => {
    const report = await runChaos({
      port: 3850,
      kills: 8,
      rounds: 2,
      serviceRestarts: 1,
      importShape: [15, 19],
      log: (line) => process.stdout.write(`[chaos] ${line}\n`),
    });
    process.stdout.write(`${describeReport(report)}\n`);
    expect(report.tasks.map((t) => t.state)).toEqual(report.tasks.map(() => 'COMPLETED'));
    expect(report.expected).toBeGreaterThan(0);
    expect({ lost: report.lost, duplicated: report.duplicated, unexpected: report.unexpected }).toEqual({
      lost: 0,
      duplicated: 0,
      unexpected: 0,
    });
    expect(report.mongo).toMatchObject({ lost: 0, duplicated: 0 });
    expect(report.mongo.stored).toBe(report.mongo.expected);
    const kills = Object.entries(report.actions).filter(([k]) => k.startsWith('kill '));
    expect(kills.reduce((a, [, n]) => a + n, 0)).toBe(8);
    for (const s of ['rabbitmq', 'mariadb', 'redis']) expect(report.actions[`restart ${s}`]).toBe(1);
    // The chaos hit work in flight, not an idle platform.
    const actions = Object.values(report.actions).reduce((a, n) => a + n, 0);
    expect(report.duringWork).toBeGreaterThan(actions / 2);
  });
});
