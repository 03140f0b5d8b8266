import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
let server: Server;
let port = 0;
/** Ports that were free a moment ago, for the ports the run must not find taken. */
const free: string[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const p = (s.address() as { port: number }).port;
  await new Promise((ok) => s.close(ok));
  return p;
}

beforeAll(async () => {
  server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  port = (server.address() as { port: number }).port;
  for (let i = 0; i < 4; i += 1) free.push(String(await freePort()));
});
afterAll(async () => {
  await new Promise((ok) => server.close(ok));
});

const start = (env: Record<string, string>) =>
  spawnSync('bash', ['scripts/start.sh'], {
    cwd: ROOT,
    env: { ...process.env, START_DEMO: '0', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('npm start', () => {
  it('refuses to start when one of its ports is taken, naming it, before it starts anything', () => {
    const [http = '', lambda = '', workerHttp = '', workerLambda = ''] = free;
    const ports = {
      HTTP_PORT: http,
      LAMBDA_PORT: lambda,
      WORKER_HTTP_PORT: workerHttp,
      WORKER_LAMBDA_PORT: workerLambda,
    };
    for (const [name, taken] of [
      ['HTTP_PORT', { HTTP_PORT: String(port) }],
      // The second worker process's Lambda port (WORKER_LAMBDA_PORT + 4).
      ['WORKER_LAMBDA_PORT+4', { WORKERS: '2', WORKER_LAMBDA_PORT: String(port - 4) }],
    ] as const) {
      const run = start({ ...ports, ...taken });
      expect(run.status, run.stderr).toBe(2);
      expect(run.stderr).toContain(`port ${port} (${name}) is already in use`);
      expect(run.stderr).not.toContain('[services]');
    }
  });

  it('refuses an on/off switch it cannot read, before it starts anything', () => {
    const run = start({ SCHEDULE_TICK: 'maybe' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("SCHEDULE_TICK must be true or false (1/0, yes/no, on/off), got 'maybe'");
    expect(run.stderr).not.toContain('[services]');
  });
});
