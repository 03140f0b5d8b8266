import { execFileSync, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { resolve } from 'node:path';
import { isTaskFinished } from '@collect/core';
import amqp from 'amqplib';
import { MongoClient } from 'mongodb';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { FakeTestRail } from '../support/fake-testrail';
import { Stack, type StackPart } from '../support/stack';
import { liveTree } from '../support/stores';
import { dir, flatten, type InNode, kase } from '../support/tree-fixtures';
import { waitFor } from '../support/wait';

/*
 * The chaos run: imports and TestRail collections go on while worker processes are SIGKILLed at
 * random points and started again, RabbitMQ, MariaDB and Redis are restarted, messages are
 * delivered twice, poison messages are published, and flow limits flip up and down. At the end
 * every record each run should have stored is looked for: none may be missing or doubled, and
 * every task must end COMPLETED (a run the chaos failed is retried, as a user would).
 *
 * It restarts the local MariaDB, Redis and RabbitMQ of this machine: run it alone.
 */

const ROOT = resolve(__dirname, '../..');
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface ChaosOptions {
  /** HTTP port of the stack (it takes the next 12). */
  port: number;
  /** Worker processes killed in all (the workers' serverless-offline or their bridge). */
  kills: number;
  /**
   * Rounds of work at least: each submits one import and one TestRail collection. A new round
   * also starts whenever the last one has settled, so every kill lands while runs are going on.
   */
  rounds: number;
  /** Restarts of each of RabbitMQ, MariaDB and Redis. */
  serviceRestarts: number;
  /** Directories × cases of each import (chunks of 20 nodes). */
  importShape: [number, number];
  log?: (line: string) => void;
  /**
   * When anything is amiss, keep the stack's logs, stores and queues for inspection instead of
   * removing them (`npm run chaos`; the reduced run in `npm test` cleans up whatever happened).
   */
  keepOnTrouble?: boolean;
}

type Run = { kind: 'import' | 'testrail'; source: string; taskId: string; expected: string[] };

export interface ChaosReport {
  actions: Record<string, number>;
  /** Actions taken while at least one run was under way. */
  duringWork: number;
  tasks: { id: string; kind: string; source: string; state: string; retries: number }[];
  expected: number;
  stored: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  mongo: { expected: number; stored: number; lost: number; duplicated: number };
  parked: number;
  /** Shards the sweeper found RUNNING with no worker and queued again (`shard.stalled`). */
  stalled: number;
  seconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Kills a local server and waits until it is gone, then starts it with the project's script. */
async function restartServer(name: 'mariadbd' | 'redis-server'): Promise<void> {
  spawnSync('pkill', ['-9', '-x', name]);
  await waitFor(`${name} to exit`, async () =>
    spawnSync('pgrep', ['-x', name]).status === 1 ? true : undefined,
  );
  execFileSync('bash', [resolve(ROOT, 'scripts/services.sh')], { stdio: 'ignore' });
}

/** Stops and starts the RabbitMQ application: every connection drops, the quorum queues recover. */
function restartRabbit(): void {
  execFileSync('rabbitmqctl', ['stop_app'], { stdio: 'ignore' });
  execFileSync('rabbitmqctl', ['start_app'], { stdio: 'ignore' });
  execFileSync('rabbitmqctl', ['await_startup'], { stdio: 'ignore' });
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const stack = new Stack(
    options.port,
    {
      IMPORT_CHUNK_SIZE: '20',
      BRIDGE_RETRY_DELAY_MS: '200',
      BRIDGE_QUEUE_WAIT_MS: '180000',
      SHARD_TIME_BUDGET_MS: '3000',
      BREAKER_COOLDOWN_MS: '2000',
      // A shard that no worker holds is queued again after 30 s (the sweeper runs every minute).
      SHARD_STALLED_MS: '30000',
    },
    { workers: 2 },
  );
  const tr = new FakeTestRail();
  const actions: Record<string, number> = {};
  const actedAt: number[] = [];
  /** Counts an action and logs it with its time, so a failure can be lined up with the logs. */
  const count = (what: string, detail = '') => {
    actions[what] = (actions[what] ?? 0) + 1;
    actedAt.push(Date.now());
    log(`${new Date().toISOString()} ${what}${detail ? `: ${detail}` : ''}`);
  };
  const runs: Run[] = [];

  await tr.start();
  for (let s = 0; s < 5; s += 1) {
    const section = tr.addSection(`Section ${s}`);
    for (let c = 0; c < 20; c += 1) tr.addCase(section, `Case ${s}.${c}`);
  }
  // Slow enough that a collection spans several kills (about 50 pages over 3 shards).
  tr.latencyMs = 250;
  // One request in 40 fails as a busy TestRail does: the engine retries it.
  tr.fault = () => (randomInt(40) === 0 ? { status: 503, headers: { 'Retry-After': '1' } } : undefined);
  const trExpected = [
    ...[...tr.sections.keys()].map((id) => `S${id}`),
    ...[...tr.cases.keys()].map((id) => `C${id}`),
  ].sort();

  // Interrupted (Ctrl-C) or ended by an error, the stack's processes go with the run (its
  // database, queues and Redis keys stay: `npm run clean:test-data` removes them).
  const killStack = () => stack.killAllNow();
  const interrupted = () => {
    killStack();
    process.exit(130);
  };
  process.once('exit', killStack);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  await stack.start();
  log(`stack up (${stack.id}); ${options.kills} kills over at least ${options.rounds} rounds of work`);
  let clean = false;
  try {
    /** A request that waits out the API's own outages (a store restarting answers 503). */
    // biome-ignore lint/suspicious/noExplicitAny: reads arbitrary JSON answers
    const call = async (method: string, path: string, body?: unknown, ok = [200, 202, 204]): Promise<any> =>
      waitFor(
        `${method} ${path}`,
        async () => {
          const r = await stack.request(method, path, body);
          // serverless-offline answers a handler it cannot load with 200 and an errorMessage.
          if (r.body?.errorMessage) throw new Error(`${method} ${path}: ${r.body.errorMessage}`);
          if (ok.includes(r.status)) return r;
          if (r.status === 409 || r.status >= 500 || r.status === 429) return undefined;
          throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
        },
        180_000,
        500,
      );

    let round = 0;
    const submit = async (): Promise<void> => {
      const n = round++;
      const [dirs, cases] = options.importShape;
      const tree: InNode = dir(
        `r${n}`,
        `Round ${n}`,
        Array.from({ length: dirs }, (_, d) =>
          dir(
            `r${n}-d${d}`,
            `Dir ${d}`,
            Array.from({ length: cases }, (_, c) => kase(`r${n}-d${d}-c${c}`, `Case ${d}.${c}`)),
          ),
        ),
      );
      const imp = await call('POST', '/api/testcase/import', {
        source: `chaos-imp-${n}`,
        mode: 'FULL',
        tree,
      });
      runs.push({
        kind: 'import',
        source: `chaos-imp-${n}`,
        taskId: imp.body.taskId,
        expected: flatten(tree)
          .map(([id]) => id)
          .sort(),
      });
      const col = await call('POST', '/api/tasks', tr.run(`chaos-tr-${n}`, { shards: 3, pageSize: 2 }));
      runs.push({ kind: 'testrail', source: `chaos-tr-${n}`, taskId: col.body.taskId, expected: trExpected });
      log(`round ${n}: import ${imp.body.taskId}, collection ${col.body.taskId}`);
    };

    // The chaos plan: which kill each other action follows.
    const at = (k: number) => Math.floor(((k + 0.5) * options.kills) / (options.serviceRestarts * 3 || 1));
    const restartsAt = new Map<number, 'rabbitmq' | 'mariadb' | 'redis'>();
    for (let i = 0; i < options.serviceRestarts * 3; i += 1)
      restartsAt.set(at(i), (['rabbitmq', 'mariadb', 'redis'] as const)[i % 3] ?? 'redis');
    const roundEvery = Math.max(1, Math.floor(options.kills / options.rounds));
    /** Whether the last round's runs are all settled (nothing would be in flight for a kill). */
    const lastRoundSettled = async (): Promise<boolean> => {
      for (const run of runs.slice(-2)) {
        const r = await stack.request('GET', `/api/tasks/${run.taskId}`).catch(() => undefined);
        // Unreadable (the API waits out a store): count it as still going.
        if (!r || r.status !== 200 || !isTaskFinished(r.body.state)) return false;
      }
      return true;
    };

    const parts: StackPart[] = ['workers', 'bridge', 'workers2', 'bridge2'];
    const restarting = new Map<StackPart, Promise<void>>();
    const conn = await amqp.connect(AMQP_URL);
    conn.on('error', () => undefined);
    // Confirmed publishes: a copy the broker did not take must not be acked away.
    let channel = await conn.createConfirmChannel();
    const t = (name: string) => `${stack.env.AMQP_PREFIX}.${name}`;
    const workQueues = ['import-chunk', 'plan', 'testrail@1.p0', 'testrail@1.p1', 'testrail@2'];
    let amqpConn = conn;
    const withChannel = async <T>(fn: (ch: amqp.ConfirmChannel) => Promise<T>): Promise<T> => {
      try {
        return await fn(channel);
      } catch {
        // The broker restarted (or a check closed the channel): open again.
        await amqpConn.close().catch(() => undefined);
        amqpConn = await waitFor('the broker', () => amqp.connect(AMQP_URL), 60_000, 500);
        amqpConn.on('error', () => undefined);
        channel = await amqpConn.createConfirmChannel();
        return fn(channel);
      }
    };

    const group = (p: StackPart) => (p.endsWith('2') ? 2 : 1);
    const eligible = () =>
      parts.filter((p) => !restarting.has(p) && ![...restarting.keys()].some((r) => group(r) !== group(p)));
    for (let k = 0; k < options.kills; k += 1) {
      // SIGKILL a part of a worker process (its serverless-offline or its bridge) while the other
      // worker process is whole: one always consumes, so the runs go on between the kills (a
      // serverless-offline takes tens of seconds to start again on two busy cores)...
      while (eligible().length === 0) await Promise.race(restarting.values());
      // ... at a random moment while runs are going on.
      if ((k % roundEvery === 0 && round < options.rounds) || (await lastRoundSettled())) await submit();
      await sleep(randomInt(300, 2500));
      const candidates = eligible();
      const part = candidates[randomInt(candidates.length)] as StackPart;
      await stack.kill(part);
      count(`kill ${part}`);
      if ((k + 1) % 10 === 0) log(`${k + 1} kills`);
      restarting.set(
        part,
        stack.startPart(part).finally(() => restarting.delete(part)),
      );

      const service = restartsAt.get(k);
      if (service) {
        log(`kill ${k + 1}: restarting ${service}`);
        if (service === 'rabbitmq') restartRabbit();
        else await restartServer(service === 'mariadb' ? 'mariadbd' : 'redis-server');
        count(`restart ${service}`);
      }

      switch (k % 4) {
        case 0: {
          // Deliver twice: take waiting messages and publish each one two times.
          await withChannel(async (ch) => {
            for (const q of workQueues) {
              const m = await ch.get(t(q), { noAck: false });
              if (m === false) continue;
              for (let i = 0; i < 2; i += 1) ch.sendToQueue(t(q), m.content, m.properties);
              await ch.waitForConfirms();
              ch.ack(m);
              count('delivered twice', `${q} ${m.properties.messageId ?? ''}`);
            }
          });
          break;
        }
        case 1: {
          // Poison: bodies no consumer can read, and shards of a task that does not exist.
          await withChannel(async (ch) => {
            const q = workQueues[randomInt(workQueues.length)] as string;
            const bodies: [Buffer, amqp.Options.Publish][] = [
              [Buffer.from('not json at all'), {}],
              [Buffer.from('{"taskId":"chaos-missing","shardNo":0,"gen":0}'), {}],
              [Buffer.from('not gzip'), { contentEncoding: 'gzip' }],
              [Buffer.from('{}'), {}],
            ];
            const [body, props] = bodies[randomInt(bodies.length)] as [Buffer, amqp.Options.Publish];
            ch.sendToQueue(t(q), body, { persistent: true, messageId: `poison-${k}`, ...props });
            await ch.waitForConfirms();
            count('poison', `${q} poison-${k}`);
          });
          break;
        }
        case 2: {
          // Flip a limit: a tenant to one task's shard at a time and back, a function to one.
          const flips: [string, unknown][] = [
            ['tenant:default', { concurrency: randomInt(2) === 0 ? 1 : 6 }],
            ['function:runShardTestrail1', { concurrency: randomInt(2) === 0 ? 1 : 3 }],
            ['function:importChunk', { concurrency: randomInt(2) === 0 ? 1 : 4 }],
            [`host:${new URL(tr.baseUrl).host}`, { ratePerSecond: randomInt(2) === 0 ? 20 : 200 }],
          ];
          const [key, body] = flips[randomInt(flips.length)] as [string, unknown];
          await call('PUT', `/api/flow/${key}`, body);
          count('limit flipped', `${key} ${JSON.stringify(body)}`);
          break;
        }
        default:
          break;
      }
    }
    while (round < options.rounds) await submit();
    await Promise.all(restarting.values());
    for (const key of ['tenant:default', 'function:runShardTestrail1', 'function:importChunk'])
      await call('DELETE', `/api/flow/${key}`, undefined, [200, 204, 404]);
    await call('DELETE', `/api/flow/host:${new URL(tr.baseUrl).host}`, undefined, [200, 204, 404]);
    log('chaos over; waiting for every task to settle');

    // Every task settles; one the chaos failed is retried, as a user would, up to three times.
    const tasks: ChaosReport['tasks'] = [];
    const windows: [number, number][] = [];
    for (const run of runs) {
      let retries = 0;
      let task = await stack.settledTask(run.taskId, 600_000);
      while (task.state !== 'COMPLETED' && retries < 3) {
        log(`${run.taskId} (${run.kind}) ended ${task.state}: ${task.lastError ?? ''}; retrying`);
        await call('POST', `/api/tasks/${run.taskId}/retry`, {});
        retries += 1;
        await waitFor('the retry to start', async () =>
          (await stack.request('GET', `/api/tasks/${run.taskId}`)).body.state !== task.state
            ? true
            : undefined,
        );
        task = await stack.settledTask(run.taskId, 600_000);
      }
      tasks.push({ id: run.taskId, kind: run.kind, source: run.source, state: task.state, retries });
      windows.push([Date.parse(task.createdAt), Date.parse(task.finishedAt ?? new Date().toISOString())]);
    }
    await amqpConn.close().catch(() => undefined);

    // What was stored, against what each run should have stored.
    let expected = 0;
    let stored = 0;
    let lost = 0;
    let duplicated = 0;
    let unexpected = 0;
    const mongoCounts = { expected: 0, stored: 0, lost: 0, duplicated: 0 };
    let stalled = 0;
    const db = await mysql.createConnection({ uri: stack.env.MYSQL_URL });
    const mongo = await new MongoClient(stack.env.MONGO_URL as string).connect();
    try {
      for (const run of runs) {
        const live = (await liveTree(db, run.source)).map(([id]) => id);
        const have = new Set(live);
        const want = new Set(run.expected);
        expected += want.size;
        stored += live.length;
        lost += [...want].filter((id) => !have.has(id)).length;
        duplicated += live.length - have.size;
        unexpected += [...have].filter((id) => !want.has(id)).length;
        const cases = run.expected.filter((id) =>
          run.kind === 'import' ? /-c\d+$/.test(id) : id.startsWith('C'),
        );
        // The documents the published rows name (a case has one per content version).
        const [named] = await db.query<RowDataPacket[]>(
          'SELECT id, doc_version FROM test_case_current WHERE source = ?',
          [run.source],
        );
        const docs =
          named.length === 0
            ? []
            : await mongo
                .db()
                .collection('case_detail')
                .aggregate<{ _id: string; n: number }>([
                  {
                    $match: {
                      source: run.source,
                      $or: named.map((r) => ({ caseId: r.id, version: Number(r.doc_version) })),
                    },
                  },
                  { $group: { _id: '$caseId', n: { $sum: 1 } } },
                ])
                .toArray();
        const docIds = new Set(docs.map((d) => d._id));
        mongoCounts.expected += cases.length;
        mongoCounts.stored += docs.reduce((a, d) => a + d.n, 0);
        mongoCounts.lost += cases.filter((id) => !docIds.has(id)).length;
        mongoCounts.duplicated += docs.reduce((a, d) => a + d.n - 1, 0);
      }
      stalled = await mongo.db().collection('task_event').countDocuments({ type: 'shard.stalled' });
    } finally {
      await db.end();
      await mongo.close();
    }

    // Poison and the twice-delivered copies end as no-ops or parked, never in a store.
    let parked = 0;
    const c2 = await amqp.connect(AMQP_URL);
    const ch2 = await c2.createChannel();
    for (const q of workQueues) parked += (await ch2.checkQueue(t(`${q}.parked`))).messageCount;
    await c2.close();

    clean = lost === 0 && duplicated === 0 && unexpected === 0 && stalled === 0 && mongoCounts.lost === 0;
    clean &&= mongoCounts.duplicated === 0 && tasks.every((t) => t.state === 'COMPLETED');
    return {
      actions,
      // An action counts when some run was under way at that moment.
      duringWork: actedAt.filter((at) => windows.some(([from, to]) => from <= at && at <= to)).length,
      tasks,
      expected,
      stored,
      lost,
      duplicated,
      unexpected,
      mongo: mongoCounts,
      parked,
      stalled,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    // Anything amiss: the stack's logs, database, MongoDB database and queues stay, to be lined
    // up with the timed actions above (task logs are in MongoDB); `npm run clean:test-data`
    // removes them afterwards.
    if (!clean && options.keepOnTrouble) {
      stack.killAllNow();
      log(`kept for inspection: logs in ${stack.logDir}, stores and queues of stack ${stack.id}`);
    } else await stack.stop().catch((err) => log(`stack stop: ${String(err)}`));
    await tr.stop();
    process.off('exit', killStack);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

/** The report as lines for a person. */
export function describeReport(r: ChaosReport): string {
  const states = new Map<string, number>();
  for (const t of r.tasks) states.set(t.state, (states.get(t.state) ?? 0) + 1);
  const retried = r.tasks.filter((t) => t.retries > 0).length;
  return [
    `chaos: ${Object.entries(r.actions)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `actions while a run was under way: ${r.duringWork} of ${Object.values(r.actions).reduce((a, n) => a + n, 0)}`,
    `tasks: ${r.tasks.length} (${[...states].map(([s, n]) => `${s} ${n}`).join(', ')}; ${retried} needed a retry)`,
    ...r.tasks.map(
      (t) =>
        `  ${t.id}  ${t.kind.padEnd(8)} ${t.source.padEnd(14)} ${t.state}${t.retries ? ` after ${t.retries} retr${t.retries === 1 ? 'y' : 'ies'}` : ''}`,
    ),
    `records (MySQL tree): expected ${r.expected}, stored ${r.stored}, lost ${r.lost}, duplicated ${r.duplicated}, unexpected ${r.unexpected}`,
    `case documents (MongoDB): expected ${r.mongo.expected}, stored ${r.mongo.stored}, lost ${r.mongo.lost}, duplicated ${r.mongo.duplicated}`,
    `messages parked (poison and dead): ${r.parked}`,
    `shards found with no worker and queued again by the sweeper: ${r.stalled}`,
    `took ${r.seconds} s`,
  ].join('\n');
}
