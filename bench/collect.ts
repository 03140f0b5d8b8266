/**
 * `npm run bench:collect` — a TestRail collection against the raw write limit, then pauses at
 * random moments, in one run.
 *
 *   raw:      the records the run stores (sections as directories, cases with their details,
 *             mapped as the collector maps them) written straight to MySQL (multi-row upserts)
 *             and MongoDB (unordered bulkWrite) in batches of one page, by as many writers as
 *             the platform has shard workers (RUN_SHARD_CONCURRENCY) — no platform in between;
 *   inserts:  a reference beside raw: the same records as plain INSERTs and insertMany into the
 *             emptied stores;
 *   platform: POST /api/tasks (FULL, BENCH_SHARDS shards) → plan → RabbitMQ → bridge → run-shard
 *             workers → fake TestRail over HTTP → MySQL + MongoDB + Redis, until COMPLETED.
 *   pauses:   a second run paused BENCH_PAUSES times at random moments and resumed each time:
 *             p50/p99 from the pause answer to the last store write (the last page event), pages
 *             fetched again per resume and per shard, and anything fetched or written while PAUSED.
 *
 * The fake TestRail computes its cases from their numbers: 200,000 cases cost it no memory.
 * Env: BENCH_SECTIONS (2000), BENCH_CASES_PER_SECTION (100), BENCH_SHARDS (8), BENCH_PAUSES (20),
 * BENCH_ROUNDS (1), BENCH_PORT (3460), RUN_SHARD_CONCURRENCY (2), plus the README's service URLs.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { chunk } from '@collect/core';
import { MongoClient } from 'mongodb';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { caseRecord, sectionId } from '../functions/collect/src/collectors/testrail';
import { MONGO } from '../functions/collect/src/mongo-collections';
import { Stack } from '../tests/support/stack';
import { waitFor } from '../tests/support/wait';
import { GeneratedTestRail } from './generated-testrail';
import { cpuUse, printPeaks, stackMonitor } from './memory';
import { type RawNode, rawWrite, wipe } from './raw-stores';

const SECTIONS = Number(process.env.BENCH_SECTIONS ?? 2000);
const PER_SECTION = Number(process.env.BENCH_CASES_PER_SECTION ?? 100);
const SHARDS = Number(process.env.BENCH_SHARDS ?? 8);
const PAUSES = Number(process.env.BENCH_PAUSES ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const PORT = Number(process.env.BENCH_PORT ?? 3460);
const WORKERS = Number(process.env.RUN_SHARD_CONCURRENCY ?? 2);
/** TestRail's most per request; a section's cases come in pages of min(this, its size). */
const PAGE = 250;

const source = new GeneratedTestRail(SECTIONS, PER_SECTION);

/** The records a run stores, in the order and batches the platform writes them. */
function* records(): Generator<RawNode[]> {
  const dirs: RawNode[] = [];
  for (let s = 1; s <= SECTIONS; s += 1) {
    const sec = source.section(s);
    dirs.push({
      id: sectionId(s),
      type: 'DIRECTORY',
      name: sec.name,
      parentId: sec.parent_id ? sectionId(sec.parent_id) : null,
    });
  }
  // Parents first: the top-level sections are 1..10.
  yield* chunk(dirs, 1000);
  const pageSize = Math.min(PAGE, PER_SECTION);
  for (let s = 1; s <= SECTIONS; s += 1)
    for (let k = 0; k < PER_SECTION; k += pageSize) {
      const page: RawNode[] = [];
      for (let i = k; i < Math.min(PER_SECTION, k + pageSize); i += 1) {
        const r = caseRecord(source.case(s, i + 1));
        page.push({
          id: r.id,
          type: 'CASE',
          name: r.name,
          parentId: r.parentId,
          content: r.content as Record<string, unknown>,
          metadata: r.metadata as Record<string, unknown>,
        });
      }
      yield page;
    }
}

const runBody = (name: string) => ({
  collector: 'testrail',
  source: name,
  mode: 'FULL',
  settings: { baseUrl: source.baseUrl, user: source.user, apiKey: source.apiKey, projectId: 1 },
  strategy: { shards: SHARDS, pageSize: PAGE },
});

async function startRun(stack: Stack, name: string): Promise<string> {
  const res = await stack.request('POST', '/api/tasks', runBody(name));
  if (res.status !== 202) throw new Error(`start failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.taskId as string;
}

async function platformRun(stack: Stack): Promise<number> {
  const started = performance.now();
  const taskId = await startRun(stack, 'bench-collect');
  const task = await stack.settledTask(taskId, 30 * 60_000);
  const seconds = (performance.now() - started) / 1000;
  if (task.state !== 'COMPLETED')
    throw new Error(`task ended ${task.state}: ${JSON.stringify(task).slice(0, 800)}`);
  if (task.progress.records !== source.caseCount)
    throw new Error(`stored ${task.progress.records} records, expected ${source.caseCount}`);
  return seconds;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

interface PauseFigures {
  latenciesMs: number[];
  refetchedPerResume: number[];
  worstPerShard: number;
  quietViolations: number;
  runs: number;
}

/**
 * Pauses a running collection `PAUSES` times, each at a random moment 0.2–1.5 s into a stretch
 * of running, and resumes it; starts another run of the source when one completes first.
 */
async function pauses(stack: Stack): Promise<PauseFigures> {
  const db = await mysql.createConnection({ uri: stack.env.MYSQL_URL });
  const mongo = await new MongoClient(stack.env.MONGO_URL as string).connect();
  const events = mongo.db().collection(MONGO.taskEvent);
  const out: PauseFigures = {
    latenciesMs: [],
    refetchedPerResume: [],
    worstPerShard: 0,
    quietViolations: 0,
    runs: 1,
  };
  // Pages of earlier runs (the throughput run) are not fetched "again" by this one.
  source.pages.clear();
  let taskId = await startRun(stack, 'bench-pause');
  const shardOfSection = new Map<number, number>();
  const learnShards = async () => {
    shardOfSection.clear();
    const [rows] = await db.query<RowDataPacket[]>(
      'SELECT shard_no, spec FROM collect_shard WHERE task_id = ?',
      [taskId],
    );
    for (const r of rows) {
      const spec = typeof r.spec === 'string' ? JSON.parse(r.spec) : r.spec;
      for (const s of spec.sections as number[]) shardOfSection.set(s, r.shard_no);
    }
  };
  const state = async () => (await stack.request('GET', `/api/tasks/${taskId}`)).body;
  let before: Map<string, number> | undefined;
  const countRefetched = () => {
    if (!before) return;
    const perShard = new Map<number, number>();
    let total = 0;
    for (const [key, n] of source.pages) {
      const was = before.get(key) ?? 0;
      if (was > 0 && n > was) {
        total += n - was;
        const shard = shardOfSection.get(Number(key.split(':')[0])) ?? -1;
        perShard.set(shard, (perShard.get(shard) ?? 0) + n - was);
      }
    }
    out.refetchedPerResume.push(total);
    out.worstPerShard = Math.max(out.worstPerShard, ...perShard.values(), 0);
    before = undefined;
  };
  try {
    while (out.latenciesMs.length < PAUSES) {
      await sleep(200 + Math.random() * 1300);
      let view = await state();
      if (view.state === 'COMPLETED') {
        countRefetched();
        // A new run fetches every page again: only pages of the same run count.
        source.pages.clear();
        shardOfSection.clear();
        taskId = await startRun(stack, 'bench-pause');
        out.runs += 1;
        continue;
      }
      if (view.state !== 'RUNNING' || !view.planned) continue;
      if (shardOfSection.size === 0) await learnShards();
      const res = await stack.request('POST', `/api/tasks/${taskId}/pause`);
      const answered = Date.now();
      if (res.status === 409) continue; // it completed between the read and the pause
      if (res.status >= 300) throw new Error(`pause failed: ${res.status} ${JSON.stringify(res.body)}`);
      view = await waitFor(
        'the task to pause',
        async () => {
          const v = await state();
          return v.state === 'PAUSED' || v.state === 'COMPLETED' ? v : undefined;
        },
        60_000,
        10,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(await state()).slice(0, 3000)}`);
      });
      if (view.state === 'COMPLETED') continue; // its last pages won the race: no pause to measure
      countRefetched();
      const last = await events.find({ taskId, type: 'shard.page' }).sort({ at: -1 }).limit(1).next();
      const lastAt = last ? new Date(last.at).getTime() : 0;
      out.latenciesMs.push(Math.max(0, lastAt - answered));
      // Nothing fetched or written while PAUSED.
      const requests = source.requests;
      const pagesBefore = await events.countDocuments({ taskId, type: 'shard.page' });
      await sleep(300);
      const pagesAfter = await events.countDocuments({ taskId, type: 'shard.page' });
      if (source.requests !== requests || pagesAfter !== pagesBefore) out.quietViolations += 1;
      before = new Map(source.pages);
      const resumed = await stack.request('POST', `/api/tasks/${taskId}/resume`);
      if (resumed.status >= 300)
        throw new Error(`resume failed: ${resumed.status} ${JSON.stringify(resumed.body)}`);
    }
    const done = await stack.settledTask(taskId, 30 * 60_000);
    countRefetched();
    if (done.state !== 'COMPLETED') throw new Error(`paused run ended ${done.state}`);
    const [rows] = await db.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM test_case_current WHERE source = 'bench-pause'",
    );
    if (Number(rows[0]?.n) !== source.caseCount)
      throw new Error(`the paused run stored ${rows[0]?.n} cases, expected ${source.caseCount}`);
    return out;
  } finally {
    await db.end();
    await mongo.close();
  }
}

async function main(): Promise<void> {
  execFileSync('bash', [resolve(__dirname, '../scripts/services.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await source.start();
  const stack = new Stack(PORT, { RUN_SHARD_CONCURRENCY: String(WORKERS), LOG_LEVEL: 'warn' });
  console.log(
    `bench:collect — ${source.caseCount} cases in ${SECTIONS} sections from a fake TestRail (no added latency), ` +
      `${SHARDS} shards, ${WORKERS} workers, pages of ${Math.min(PAGE, PER_SECTION)} records`,
  );
  await stack.start();
  const memory = stackMonitor(stack);
  try {
    memory.start();
    const total = { raw: 0, inserts: 0, platform: 0 };
    for (let round = 1; round <= ROUNDS; round += 1) {
      const sides = ['raw', 'inserts', 'platform'] as const;
      for (const side of round % 2 === 1 ? sides : [...sides].reverse()) {
        await wipe(stack.env);
        const cpuBefore = memory.cpu();
        const seconds =
          side === 'platform'
            ? await platformRun(stack)
            : await rawWrite(stack.env, side === 'raw' ? 'upserts' : 'inserts', records(), WORKERS);
        total[side] += seconds;
        console.log(
          `round ${round} ${side.padEnd(8)} ${(source.caseCount / seconds).toFixed(0).padStart(7)} records/s  (${seconds.toFixed(1)} s)`,
        );
        console.log(`          CPU seconds: ${cpuUse(cpuBefore, memory.cpu())}`);
      }
    }
    const rate = (seconds: number) => (source.caseCount * ROUNDS) / seconds;
    const [raw, inserts, platform] = [rate(total.raw), rate(total.inserts), rate(total.platform)];
    console.log(`raw      ${raw.toFixed(0).padStart(7)} records/s  (upserts)`);
    console.log(
      `inserts  ${inserts.toFixed(0).padStart(7)} records/s  (reference: plain inserts into the emptied stores)`,
    );
    console.log(`platform ${platform.toFixed(0).padStart(7)} records/s`);
    console.log(`ratio    ${(platform / raw).toFixed(2)}  (platform ÷ raw upserts; target ≥ 0.5)`);
    console.log(`         ${(platform / inserts).toFixed(2)}  (platform ÷ inserts)`);

    const p = await pauses(stack);
    const sorted = [...p.latenciesMs].sort((a, b) => a - b);
    console.log(`pauses   ${p.latenciesMs.length} over ${p.runs} run(s); pause answer → last store write:`);
    console.log(
      `         p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${(sorted.at(-1) ?? 0).toFixed(0)} ms (target p99 ≤ 1000 ms)`,
    );
    console.log(
      `         pages fetched again per resume: ${p.refetchedPerResume.join(' ')}; worst for one shard in one resume: ${p.worstPerShard} (target ≤ 1)`,
    );
    console.log(`         fetched or written while PAUSED: ${p.quietViolations} time(s) (must be 0)`);
    printPeaks(memory);
  } finally {
    memory.stop();
    await stack.stop();
    await source.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
