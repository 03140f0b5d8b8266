/**
 * `npm run bench:flow` — how long a flow limit takes to be in force on every worker.
 *
 * BENCH_FLOW_WORKERS (8) workers, each with its own Redis connection and its own flow control
 * (as each worker process has: limits cached, the published version checked every 500 ms), and
 * one bridge watcher (every BRIDGE_FLOW_CHECK_MS, 250). BENCH_FLOW_CHANGES (40) times, a limit
 * is changed through the API's use case (MySQL, then published to Redis) at a random moment, and
 * the time from the change's answer to the moment the last worker (and the bridge) uses the new
 * value is taken. Prints p50 / p99 / max of both, against the target p99 ≤ 1 s.
 *
 * Then, through the platform as `npm start` runs it (serverless-offline and the bridge), on a
 * fake TestRail that answers after BENCH_FLOW_LATENCY_MS (200):
 * - throughput of one TestRail collection (BENCH_FLOW_SECTIONS (32) × 25 cases, 5 a page,
 *   8 shards) with 1 and with 2 worker processes, each consuming with its bridge's concurrency
 *   (RUN_SHARD_CONCURRENCY 2): records/s of each and their ratio. The source's latency is the
 *   limit here, not the stores (a page's write takes a few ms).
 * - a host limit of 50 requests/s (`PUT /api/flow/host:…`) over a run of 8,000 single-case pages
 *   on the 2-process stack (RUN_SHARD_CONCURRENCY BENCH_FLOW_RATE_CONCURRENCY (6) each): the
 *   requests the source saw per second in 10 s without the limit (the demand), then in the
 *   minute from 2 s after the PUT, against 50 ± 5 %.
 * BENCH_FLOW_PARTS=limits,throughput,rate picks parts (default all).
 */
import { randomUUID } from 'node:crypto';
import { watchFunctionLimits } from '@collect/offline-rabbitmq';
import { Redis } from 'ioredis';
import { RedisFlowControl } from '../functions/collect/src/adapters/flow-control.redis';
import { putFlow } from '../functions/collect/src/app/flow';
import { FakeTestRail } from '../tests/support/fake-testrail';
import { Stack } from '../tests/support/stack';
import { createTestEnv } from '../tests/support/test-env';
import { waitFor } from '../tests/support/wait';

const WORKERS = Number(process.env.BENCH_FLOW_WORKERS ?? 8);
const CHANGES = Number(process.env.BENCH_FLOW_CHANGES ?? 40);
const BRIDGE_EVERY_MS = Number(process.env.BRIDGE_FLOW_CHECK_MS ?? 250);

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const ms = (v: number) => `${v.toFixed(0)} ms`;

const PARTS = new Set((process.env.BENCH_FLOW_PARTS ?? 'limits,throughput,rate').split(','));
const LATENCY_MS = Number(process.env.BENCH_FLOW_LATENCY_MS ?? 200);
const SECTIONS = Number(process.env.BENCH_FLOW_SECTIONS ?? 32);

/** Records a second of one TestRail FULL collection on a stack, from its task's own times. */
async function collectionRate(stack: Stack, tr: FakeTestRail, source: string): Promise<number> {
  const res = await stack.request('POST', '/api/tasks', {
    collector: 'testrail',
    source,
    mode: 'FULL',
    settings: tr.settings(),
    strategy: { shards: 8, pageSize: 5 },
  });
  if (res.status !== 202) throw new Error(`run refused: ${res.status} ${JSON.stringify(res.body)}`);
  const task = await stack.settledTask(res.body.taskId, 600_000);
  if (task.state !== 'COMPLETED') throw new Error(`run ${task.id} ended ${task.state}`);
  const seconds = (Date.parse(task.finishedAt) - Date.parse(task.startedAt ?? task.createdAt)) / 1000;
  return task.progress.records / seconds;
}

/** Throughput with 1 and with 2 worker processes, two runs each (the better one counts). */
async function throughput(): Promise<void> {
  const tr = new FakeTestRail();
  await tr.start();
  for (let s = 0; s < SECTIONS; s += 1) {
    const section = tr.addSection(`Section ${s}`);
    for (let c = 0; c < 25; c += 1) tr.addCase(section, `Case ${s}.${c}`);
  }
  tr.latencyMs = LATENCY_MS;
  const rates: number[] = [];
  try {
    for (const workers of [1, 2]) {
      const stack = new Stack(3900, { LOG_LEVEL: 'warn' }, { workers });
      await stack.start();
      try {
        const runs = [];
        for (let i = 0; i < 2; i += 1)
          runs.push(await collectionRate(stack, tr, `bench-flow-${workers}-${i}`));
        rates.push(Math.max(...runs));
        console.log(
          `${workers} worker process${workers > 1 ? 'es' : ''}: ${runs.map((r) => r.toFixed(1)).join(', ')} records/s (${SECTIONS * 25} records, source latency ${LATENCY_MS} ms)`,
        );
      } finally {
        await stack.stop();
      }
    }
  } finally {
    await tr.stop();
  }
  console.log(`throughput ratio, 2 processes / 1: ${((rates[1] ?? 0) / (rates[0] ?? 1)).toFixed(2)}`);
}

/** Requests per second the source saw in [from, from + seconds): the mean, and each second's count sorted. */
function requestRate(tr: FakeTestRail, from: number, seconds: number) {
  const seen = tr.requests.filter((r) => r.at >= from && r.at < from + seconds * 1000);
  const perSecond = new Map<number, number>();
  for (let s = 0; s < seconds; s += 1) perSecond.set(s, 0);
  for (const r of seen) {
    const second = Math.floor((r.at - from) / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
  return {
    total: seen.length,
    mean: seen.length / seconds,
    counts: [...perSecond.values()].sort((a, b) => a - b),
  };
}

/** Waits until `ms` have passed since `since` (a condition with a deadline, no fixed sleep). */
const until = (label: string, at: number) =>
  waitFor(label, async () => (Date.now() >= at ? true : undefined), at - Date.now() + 30_000, 200);

/**
 * A host held at 50 requests/s for a minute, over two worker processes. The same run first
 * goes 15 s without a limit, to show what the workers could ask without one: a limit can only be
 * held when the demand is above it.
 */
async function heldRate(): Promise<void> {
  const tr = new FakeTestRail();
  await tr.start();
  for (let s = 0; s < 160; s += 1) {
    const section = tr.addSection(`Section ${s}`);
    for (let c = 0; c < 50; c += 1) tr.addCase(section, `Case ${s}.${c}`);
  }
  tr.latencyMs = 5;
  const concurrency = process.env.BENCH_FLOW_RATE_CONCURRENCY ?? '6';
  const stack = new Stack(3900, { LOG_LEVEL: 'warn', RUN_SHARD_CONCURRENCY: concurrency }, { workers: 2 });
  await stack.start();
  try {
    const host = new URL(tr.baseUrl).host;
    const res = await stack.request(
      'POST',
      '/api/tasks',
      tr.run('bench-flow-rate', { shards: 32, pageSize: 1 }),
    );
    if (res.status !== 202) throw new Error(`run refused: ${res.status} ${JSON.stringify(res.body)}`);
    const started = Date.now();
    await until('15 s without a limit', started + 15_000);
    const free = requestRate(tr, started + 5_000, 10);
    const put = await stack.request('PUT', `/api/flow/host:${host}`, { ratePerSecond: 50, burst: 1 });
    if (put.status !== 200) throw new Error(`limit refused: ${put.status} ${JSON.stringify(put.body)}`);
    const limitedFrom = Date.now() + 2_000;
    await until('a minute under the limit', limitedFrom + 60_000);
    const held = requestRate(tr, limitedFrom, 60);
    const state = await stack.request('GET', `/api/tasks/${res.body.taskId}`);
    if (state.body.state !== 'RUNNING')
      throw new Error(`the run ended too early (${state.body.state}): add cases`);
    console.log(
      `without a limit (seconds 5-15 of the run): ${free.mean.toFixed(2)} requests/s; seconds: min ${free.counts[0]}, p50 ${pct(free.counts, 50)}, max ${free.counts.at(-1)} (2 processes × RUN_SHARD_CONCURRENCY ${concurrency}, 32 shards, pages of 1 case)`,
    );
    console.log(
      `host limit 50 requests/s, the minute from 2 s after the PUT: ${held.total} requests = ${held.mean.toFixed(2)}/s (${(((held.mean - 50) / 50) * 100).toFixed(1)} %); seconds: min ${held.counts[0]}, p50 ${pct(held.counts, 50)}, max ${held.counts.at(-1)}`,
    );
    console.log(`demand without a limit / limit: ${(free.mean / 50).toFixed(2)}`);
    const within = Math.abs(held.mean - 50) <= 2.5;
    console.log(`within 5 %: ${within ? 'yes' : 'NO'}`);
    if (!within) process.exitCode = 1;
    await stack.request('POST', `/api/tasks/${res.body.taskId}/stop`, {});
  } finally {
    await stack.stop();
    await tr.stop();
  }
}

async function main(): Promise<void> {
  if (PARTS.has('limits')) await limitLag();
  if (PARTS.has('throughput')) await throughput();
  if (PARTS.has('rate')) await heldRate();
}

async function limitLag(): Promise<void> {
  const env = await createTestEnv();
  const clients: Redis[] = [];
  try {
    const key = `host:${randomUUID().slice(0, 8)}.bench`;
    const fn = 'runShardHttpTree1'; // a consumer the flow API knows (its own Redis prefix: no real one listens)
    const workers = Array.from({ length: WORKERS }, () => {
      const redis = new Redis(env.config.REDIS_URL, { keyPrefix: env.config.REDIS_PREFIX });
      clients.push(redis);
      return new RedisFlowControl(redis);
    });
    let bridgeLimit: number | undefined;
    let bridgeSawAt = 0;
    const watcher = watchFunctionLimits({
      redisUrl: env.config.REDIS_URL,
      prefix: env.config.REDIS_PREFIX,
      everyMs: BRIDGE_EVERY_MS,
      apply: (limits) => {
        bridgeLimit = limits.get(fn);
        bridgeSawAt = performance.now();
      },
    });
    // Each worker looks at its limits as it would before a page: here, every 10 ms.
    const seenAt = workers.map(() => new Map<number, number>());
    let running = true;
    const polls = workers.map(async (w, i) => {
      // (An error in the main flow stops the polls before the clients close.)
      while (running) {
        const limit = (await w.current()).get(key)?.concurrency;
        if (limit !== undefined && !seenAt[i]?.has(limit)) seenAt[i]?.set(limit, performance.now());
        await new Promise((r) => setTimeout(r, 10));
      }
    });

    const stopPolls = async () => {
      running = false;
      await Promise.all(polls);
    };
    const workerLag: number[] = [];
    const bridgeLag: number[] = [];
    try {
      for (let c = 1; c <= CHANGES; c += 1) {
        await new Promise((r) => setTimeout(r, Math.random() * 600));
        const concurrency = 1000 + c;
        await putFlow(env.services, key, { concurrency });
        const answered = performance.now();
        await putFlow(env.services, `function:${fn}`, { concurrency: c });
        const bridgeAnswered = performance.now();
        await waitFor(
          'every worker and the bridge to use the new limit',
          async () => (seenAt.every((m) => m.has(concurrency)) && bridgeLimit === c) || undefined,
          10_000,
          5,
        );
        workerLag.push(Math.max(...seenAt.map((m) => (m.get(concurrency) as number) - answered), 0));
        bridgeLag.push(Math.max(0, bridgeSawAt - bridgeAnswered));
      }
    } finally {
      await stopPolls();
      await watcher.stop();
    }

    workerLag.sort((a, b) => a - b);
    bridgeLag.sort((a, b) => a - b);
    console.log(
      `\nflow limit changes: ${CHANGES}; workers: ${WORKERS} (checking every 500 ms) and a bridge (every ${BRIDGE_EVERY_MS} ms)`,
    );
    console.log(
      `in force on every worker after the answer: p50 ${ms(pct(workerLag, 50))}, p99 ${ms(pct(workerLag, 99))}, max ${ms(workerLag.at(-1) ?? Number.NaN)}`,
    );
    console.log(
      `in force in the bridge: p50 ${ms(pct(bridgeLag, 50))}, p99 ${ms(pct(bridgeLag, 99))}, max ${ms(bridgeLag.at(-1) ?? Number.NaN)}`,
    );
    const ok = pct(workerLag, 99) <= 1000 && pct(bridgeLag, 99) <= 1000;
    console.log(`target p99 ≤ 1 s: ${ok ? 'met' : 'MISSED'}`);
    if (!ok) process.exitCode = 1;
  } finally {
    for (const r of clients) r.disconnect();
    await env.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
