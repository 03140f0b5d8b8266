import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { dropMysqlDatabase } from '@collect/common/setup';
import { isTaskFinished } from '@collect/core';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { collectConfigSchema } from '../../functions/collect/src/config';
import {
  deleteQueues,
  migrateCollect,
  publishCatalog,
  publishFlowLimits,
  setupMongo,
  setupQueues,
} from '../../functions/collect/src/setup';
import { migrateRegister } from '../../functions/register/src/setup';
import { migrateScheduler } from '../../functions/scheduler/src/setup';
import { withDatabase } from './stores';
import { GiveUp, waitFor } from './wait';

const ROOT = resolve(__dirname, '../..');
const rank = (part: StackPart) => ({ bridge: 0, workers: 1, offline: 2 })[groupOf(part).kind];
const BIN = resolve(ROOT, 'node_modules/.bin');

/**
 * `offline` serves the HTTP API, `workers` runs the functions the bridge invokes. A stack with
 * several worker processes has `workers2`/`bridge2` … beside them, each pair on its own ports.
 */
export type StackPart = 'offline' | 'workers' | 'bridge' | `${'workers' | 'bridge'}${number}`;

export interface StackOptions {
  /** Worker processes, each a serverless-offline with its own bridge (default 1). */
  workers?: number;
  /**
   * Run the bridge inside the API's serverless-offline, as its plugin (OFFLINE_RABBITMQ=true),
   * instead of separate worker processes.
   */
  bridgeInOffline?: boolean;
}

/** The worker pair a part belongs to (0 for `workers`/`bridge`) and what it is. */
function groupOf(part: StackPart): { kind: 'offline' | 'workers' | 'bridge'; group: number } {
  const m = /^(offline|workers|bridge)(\d*)$/.exec(part);
  if (!m) throw new Error(`unknown stack part ${part}`);
  return { kind: m[1] as 'offline' | 'workers' | 'bridge', group: m[2] ? Number(m[2]) - 1 : 0 };
}

/**
 * The platform as a user runs it — serverless-offline and the RabbitMQ bridge as child
 * processes — on its own ports, database, Redis prefix and queues, so several stacks and a
 * developer's `npm start` do not meet. Parts can be killed (SIGKILL) and started again.
 */
export class Stack {
  readonly id = `e2e_${randomBytes(3).toString('hex')}`;
  readonly env: Record<string, string>;
  readonly baseUrl: string;
  private readonly procs = new Map<StackPart, ChildProcess>();
  readonly logDir = resolve(ROOT, '.run', this.id);

  constructor(
    readonly port: number,
    extraEnv: Record<string, string> = {},
    private readonly options: StackOptions = {},
  ) {
    const base = {
      MYSQL_URL: process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/collect',
      MONGO_URL: process.env.MONGO_URL ?? 'mongodb://127.0.0.1:27018/collect',
    };
    this.env = {
      MYSQL_URL: withDatabase(base.MYSQL_URL, `collect_${this.id}`),
      MONGO_URL: withDatabase(base.MONGO_URL, `collect_${this.id}`),
      REDIS_PREFIX: `collect_${this.id}:`,
      AMQP_PREFIX: `collect_${this.id}`,
      HTTP_PORT: String(port),
      COLLECT_API_URL: `http://127.0.0.1:${port}`,
      REGISTER_API_URL: `http://127.0.0.1:${port}`,
      LAMBDA_PORT: String(port + 2),
      LOG_LEVEL: 'warn',
      ...extraEnv,
    };
    this.baseUrl = `http://127.0.0.1:${port}`;
  }

  private config(): Record<string, string> {
    return { ...(process.env as Record<string, string>), ...this.env };
  }

  /** Creates the stores and queues, then starts both processes and waits until HTTP answers. */
  async start(): Promise<void> {
    mkdirSync(this.logDir, { recursive: true });
    await migrateCollect(this.env.MYSQL_URL as string);
    await migrateRegister(this.env.MYSQL_URL as string);
    await migrateScheduler(this.env.MYSQL_URL as string);
    const mongo = await new MongoClient(this.env.MONGO_URL as string).connect();
    await setupMongo(mongo.db(), 1);
    await mongo.close();
    const conn = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
    const ch = await conn.createChannel();
    await setupQueues(ch, collectConfigSchema.parse(this.config()));
    // As setup does: platform-collect announces its collectors to the register.
    const confirm = await conn.createConfirmChannel();
    await publishCatalog(confirm, collectConfigSchema.parse(this.config()));
    await conn.close();
    // As setup does: the bridges hold every function until they have read published limits.
    await publishFlowLimits(collectConfigSchema.parse(this.config()));
    if (this.options.bridgeInOffline) {
      await this.startPart('offline');
      return;
    }
    const groups = Array.from({ length: this.options.workers ?? 1 }, (_, i) => this.partName('workers', i));
    await Promise.all([this.startPart('offline'), ...groups.map((p) => this.startPart(p))]);
    await Promise.all(groups.map((_, i) => this.startPart(this.partName('bridge', i))));
  }

  /** The name of worker pair `group`'s part: `workers`, `workers2` … */
  partName(kind: 'workers' | 'bridge', group: number): StackPart {
    return group === 0 ? kind : `${kind}${group + 1}`;
  }

  /** Ports of worker pair `group`: its serverless-offline's HTTP and Lambda API. */
  private workerPorts(group: number): { http: number; lambda: number } {
    return { http: this.port + 4 + 4 * group, lambda: this.port + 6 + 4 * group };
  }

  async startPart(part: StackPart): Promise<void> {
    const { kind, group } = groupOf(part);
    const ports = this.workerPorts(group);
    const args: [string, string[]] =
      kind === 'bridge'
        ? [resolve(BIN, 'tsx'), [resolve(ROOT, 'plugins/offline-rabbitmq/src/main.ts')]]
        : ['bash', [resolve(ROOT, 'scripts/offline.sh')]];
    const env: Record<string, string> =
      kind === 'offline'
        ? {
            ...this.config(),
            // Its own bundles: another serverless (npm start, a package) cleans up its folder.
            ESBUILD_WORK_FOLDER: `.esbuild-${this.id}-api`,
            // As npm start: every HTTP and scheduled function's bundle shares this heap.
            OFFLINE_HEAP_MB: process.env.OFFLINE_API_HEAP_MB ?? '640',
            ...(this.options.bridgeInOffline ? { OFFLINE_RABBITMQ: 'true' } : {}),
          }
        : kind === 'bridge'
          ? { ...this.config(), LAMBDA_PORT: String(ports.lambda) }
          : {
              ...this.config(),
              HTTP_PORT: String(ports.http),
              LAMBDA_PORT: String(ports.lambda),
              ESBUILD_WORK_FOLDER: `.esbuild-${this.id}-${group}`,
              // The API process ticks the scheduler; worker processes only run what the bridge invokes.
              SCHEDULE_TICK: 'false',
            };
    const log = createWriteStream(resolve(this.logDir, `${part}.log`), { flags: 'a' });
    const child = spawn(args[0], args[1], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.procs.set(part, child);
    if (kind === 'bridge' || (kind === 'offline' && this.options.bridgeInOffline)) {
      // Ready once it consumes: its start-up (reading the service definition) is not the tests'.
      // (The plugin logs through serverless's logger, on stderr.)
      let out = '';
      const read = (chunk: Buffer) => {
        if (out.length < 65_536) out += chunk.toString('utf8');
      };
      child.stdout?.on('data', read);
      child.stderr?.on('data', read);
      await waitFor(
        `${part} to consume (log ${this.logDir}/${part}.log)`,
        async () => {
          if (child.exitCode !== null)
            throw new GiveUp(`${part} exited with ${child.exitCode}; see ${this.logDir}/${part}.log`);
          return out.includes('consuming:') ? true : undefined;
        },
        120_000,
        100,
      );
    } else {
      const url = kind === 'offline' ? this.baseUrl : `http://127.0.0.1:${ports.http}`;
      await waitFor(
        `serverless-offline (${part}) on ${url} (log ${this.logDir}/${part}.log)`,
        async () => {
          if (child.exitCode !== null)
            throw new GiveUp(
              `serverless-offline (${part}) exited with ${child.exitCode}; see ${this.logDir}/${part}.log`,
            );
          const res = await fetch(`${url}/api/tasks/ready`).catch(() => undefined);
          return res?.status === 404 ? true : undefined;
        },
        120_000,
        250,
      );
    }
  }

  /** The process group id of each running part (its children share it). */
  processGroups(): Map<StackPart, number> {
    const out = new Map<StackPart, number>();
    for (const [part, child] of this.procs)
      if (child.pid !== undefined && child.exitCode === null) out.set(part, child.pid);
    return out;
  }

  /**
   * Kills every part at once, synchronously (for a process's `exit` or signal handler: the parts
   * lead their own process groups, so they outlive their parent otherwise).
   */
  killAllNow(): void {
    for (const pid of this.processGroups().values()) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    }
  }

  /** Kills a part and its children at once, as a crash would (no cleanup runs). */
  async kill(part: StackPart): Promise<void> {
    const child = this.procs.get(part);
    if (!child || child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid, 'SIGKILL');
    await exited;
    this.procs.delete(part);
  }

  /** Stops both processes and removes the database, MongoDB database, Redis keys and queues. */
  async stop(): Promise<void> {
    // Bridges first (they hand their messages back), then the processes they invoke.
    const order = [...this.procs.keys()].sort((a, b) => rank(a) - rank(b));
    for (const part of order) {
      const child = this.procs.get(part);
      if (!child || child.exitCode !== null || child.pid === undefined) continue;
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.procs.clear();
    const conn = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
    const ch = await conn.createChannel();
    await deleteQueues(ch, collectConfigSchema.parse(this.config())).catch(() => undefined);
    await conn.close().catch(() => undefined);
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0');
    const keys = await redis.keys(`${this.env.REDIS_PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    const mongo = await new MongoClient(this.env.MONGO_URL as string).connect();
    await mongo.db().dropDatabase();
    await mongo.close();
    await dropMysqlDatabase(this.env.MYSQL_URL as string);
    for (const folder of ['api', ...Array.from({ length: this.options.workers ?? 1 }, (_, g) => g)])
      rmSync(resolve(ROOT, `.esbuild-${this.id}-${folder}`), { recursive: true, force: true });
    if (!process.env.KEEP_E2E_LOGS) rmSync(this.logDir, { recursive: true, force: true });
  }

  /** What a part wrote to its log so far. */
  partLog(part: StackPart): string {
    try {
      return readFileSync(resolve(this.logDir, `${part}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  ): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed };
  }

  /** Waits for a task to reach a final state and returns it. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  async settledTask(taskId: string, timeoutMs = 120_000): Promise<any> {
    return waitFor(
      `task ${taskId} to settle`,
      async () => {
        const r = await this.request('GET', `/api/tasks/${taskId}`);
        return isTaskFinished(r.body?.state) ? r.body : undefined;
      },
      timeoutMs,
      200,
    );
  }
}
