/**
 * `npm run bench:import` — the import path against the raw write limit, side by side in one run.
 *
 *   raw:      the same records written straight to MySQL (multi-row upserts) and MongoDB
 *             (unordered bulkWrite), batches of IMPORT_CHUNK_SIZE, as many writers as the
 *             platform has workers (IMPORT_CHUNK_CONCURRENCY) — no platform in between;
 *   inserts:  a reference beside raw: the same records as plain multi-row INSERTs and insertMany,
 *             which only works because the stores were just emptied (an upsert is not needed);
 *   platform: HTTP → validation → RabbitMQ → bridge → chunk worker → MySQL + MongoDB + Redis,
 *             as a FULL import in parts (open, parts of BENCH_PART_NODES, commit), until the task
 *             is COMPLETED.
 *
 * Prints nodes/s for each, the platform's ratios, and the peak RSS of every process involved.
 * Each round wipes the stores before each side; rounds alternate which side goes first.
 * Env: BENCH_ROUNDS (2), BENCH_NODES (100000), BENCH_PART_NODES (5000), BENCH_PORT (3400), IMPORT_CHUNK_SIZE (1000),
 * IMPORT_CHUNK_CONCURRENCY (2), plus the service URLs of the README.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { Stack } from '../tests/support/stack';
import { cpuUse, printPeaks, stackMonitor } from './memory';
import { rawWrite, wipe } from './raw-stores';
import { batches, type GenNode, shapeFor } from './tree-generator';

const NODES = Number(process.env.BENCH_NODES ?? 100_000);
const PART = Number(process.env.BENCH_PART_NODES ?? 5000);
const CHUNK = Number(process.env.IMPORT_CHUNK_SIZE ?? 1000);
const WORKERS = Number(process.env.IMPORT_CHUNK_CONCURRENCY ?? 2);
const PORT = Number(process.env.BENCH_PORT ?? 3400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

/** Platform: the whole path, as a user with a large tree would call it (`change`: what differs from the generated tree). */
async function platformImport(
  stack: Stack,
  change: (n: GenNode) => GenNode = (n) => n,
): Promise<{ seconds: number; uploaded: number; task: Record<string, unknown> }> {
  const started = performance.now();
  const open = await stack.request('POST', '/api/testcase/imports', { source: 'bench', mode: 'FULL' });
  if (open.status !== 201) throw new Error(`open failed: ${open.status} ${JSON.stringify(open.body)}`);
  const taskId = open.body.taskId as string;
  for (const given of batches(shapeFor(NODES), PART)) {
    const part = given.map(change);
    // A well-behaved client: on 429 (workers behind) it sends the same part again a bit later.
    for (;;) {
      const res = await stack.request('POST', `/api/testcase/imports/${taskId}/parts`, { nodes: part });
      if (res.status === 202) break;
      if (res.status !== 429)
        throw new Error(`part failed: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const uploaded = (performance.now() - started) / 1000;
  const commit = await stack.request('POST', `/api/testcase/imports/${taskId}/commit`);
  if (commit.status !== 202)
    throw new Error(`commit failed: ${commit.status} ${JSON.stringify(commit.body)}`);
  const task = await stack.settledTask(taskId, 30 * 60_000);
  const seconds = (performance.now() - started) / 1000;
  if (task.state !== 'COMPLETED')
    throw new Error(`task ended ${task.state}: ${JSON.stringify(task).slice(0, 500)}`);
  return { seconds, uploaded, task };
}

/** Rows the newest version wrote (its copies) plus the rows it closed, in both tree tables. */
async function rowsWritten(stack: Stack): Promise<string> {
  const db = await mysql.createConnection({ uri: stack.env.MYSQL_URL });
  try {
    const [v] = await db.query<RowDataPacket[]>(
      "SELECT MAX(version) AS v FROM tree_version WHERE source = 'bench'",
    );
    const version = Number(v[0]?.v ?? 0);
    let added = 0;
    let closed = 0;
    for (const t of ['test_directory', 'test_case']) {
      const [r] = await db.query<RowDataPacket[]>(
        `SELECT SUM(valid_from = ?) AS added, SUM(valid_to = ?) AS closed FROM ${t} WHERE source = 'bench'`,
        [version, version],
      );
      added += Number(r[0]?.added ?? 0);
      closed += Number(r[0]?.closed ?? 0);
    }
    return `${added + closed} (${added} rows of version ${version}, ${closed} earlier rows closed)`;
  } finally {
    await db.end();
  }
}

async function main(): Promise<void> {
  execFileSync('bash', [resolve(__dirname, '../scripts/services.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const stack = new Stack(PORT, {
    IMPORT_CHUNK_SIZE: String(CHUNK),
    IMPORT_CHUNK_CONCURRENCY: String(WORKERS),
    LOG_LEVEL: 'warn',
  });
  const shape = shapeFor(NODES);
  console.log(
    `bench:import — ${NODES} nodes (${shape.directories} directories, ${shape.cases} cases), chunks of ${CHUNK}, ${WORKERS} workers, parts of ${PART}`,
  );
  await stack.start();
  const memory = stackMonitor(stack);
  try {
    memory.start();
    const total = { raw: 0, inserts: 0, platform: 0 };
    for (let round = 1; round <= ROUNDS; round += 1) {
      // Alternate the order so neither side always runs on a warmer (or fuller) machine.
      const sides = ['raw', 'inserts', 'platform'] as const;
      for (const side of round % 2 === 1 ? sides : [...sides].reverse()) {
        await wipe(stack.env);
        const cpuBefore = memory.cpu();
        if (side === 'platform') {
          const { seconds, uploaded } = await platformImport(stack);
          total.platform += seconds;
          console.log(
            `round ${round} platform ${(NODES / seconds).toFixed(0).padStart(7)} nodes/s  (${seconds.toFixed(1)} s; last part accepted at ${uploaded.toFixed(1)} s)`,
          );
        } else {
          const seconds = await rawWrite(
            stack.env,
            side === 'raw' ? 'upserts' : 'inserts',
            batches(shapeFor(NODES), CHUNK),
            WORKERS,
          );
          total[side] += seconds;
          console.log(
            `round ${round} ${side.padEnd(8)} ${(NODES / seconds).toFixed(0).padStart(7)} nodes/s  (${seconds.toFixed(1)} s)`,
          );
        }
        console.log(`          CPU seconds: ${cpuUse(cpuBefore, memory.cpu())}`);
      }
    }
    const rate = (seconds: number) => (NODES * ROUNDS) / seconds;
    const [raw, inserts, platform] = [rate(total.raw), rate(total.inserts), rate(total.platform)];
    console.log(`raw      ${raw.toFixed(0).padStart(7)} nodes/s over ${ROUNDS} round(s)  (upserts)`);
    console.log(
      `inserts  ${inserts.toFixed(0).padStart(7)} nodes/s over ${ROUNDS} round(s)  (reference: plain inserts into the emptied stores)`,
    );
    console.log(`platform ${platform.toFixed(0).padStart(7)} nodes/s over ${ROUNDS} round(s)`);
    console.log(`ratio    ${(platform / raw).toFixed(2)}  (platform ÷ raw)`);
    console.log(`         ${(platform / inserts).toFixed(2)}  (platform ÷ inserts)`);
    // Rows written per run: a new tree, then the same tree again with 1 % of its cases renamed
    // and 0.5 % changed. A run writes what changed, not the tree (tree versions copy a row only
    // when they change it).
    await wipe(stack.env);
    const first = await platformImport(stack);
    console.log(
      `first    ${(NODES / first.seconds).toFixed(0).padStart(7)} nodes/s  (${first.seconds.toFixed(1)} s): a new tree`,
    );
    console.log(`rows     ${await rowsWritten(stack)} written by it (n = ${NODES})`);
    const again = await platformImport(stack, (n) => {
      const i = n.type === 'CASE' ? Number(n.id.slice(1)) : -1;
      if (i >= 0 && i % 100 === 0) return { ...n, name: `${n.name} (renamed)` };
      if (i >= 0 && i % 200 === 1 && n.content)
        return { ...n, content: { ...n.content, description: 'changed' } };
      return n;
    });
    const changed = Math.ceil(shapeFor(NODES).cases / 100) + Math.ceil((shapeFor(NODES).cases - 1) / 200);
    console.log(
      `again    ${(NODES / again.seconds).toFixed(0).padStart(7)} nodes/s  (${again.seconds.toFixed(1)} s): the same tree with ${changed} cases renamed or changed`,
    );
    console.log(`rows     ${await rowsWritten(stack)} written by it (k = ${changed} of n = ${NODES})`);
    printPeaks(memory);
  } finally {
    memory.stop();
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
