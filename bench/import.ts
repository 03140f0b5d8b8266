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
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MONGO } from '@collect/common';
import { setupMongo } from '@collect/common/setup';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import { contentHash } from '../functions/collect/src/app/tree-walk';
import { Stack } from '../tests/support/stack';
import { ProcessMonitor, pidsOf } from './memory';
import { batches, type GenNode, shapeFor } from './tree-generator';

const NODES = Number(process.env.BENCH_NODES ?? 100_000);
const PART = Number(process.env.BENCH_PART_NODES ?? 5000);
const CHUNK = Number(process.env.IMPORT_CHUNK_SIZE ?? 1000);
const WORKERS = Number(process.env.IMPORT_CHUNK_CONCURRENCY ?? 2);
const PORT = Number(process.env.BENCH_PORT ?? 3400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const MB = 1024 * 1024;

/**
 * Raw: every batch to MySQL (one multi-row upsert per table) then MongoDB (one bulkWrite of
 * upserts), as the issue defines the raw limit. `inserts` is a second reference: plain multi-row
 * INSERTs and insertMany, which only work because the stores were just emptied.
 */
async function rawWrite(stack: Stack, how: 'upserts' | 'inserts'): Promise<number> {
  const db = mysql.createPool({
    uri: stack.env.MYSQL_URL,
    connectionLimit: WORKERS,
    charset: 'utf8mb4_unicode_ci',
  });
  const mongo = await new MongoClient(stack.env.MONGO_URL as string, { maxPoolSize: WORKERS }).connect();
  const coll = mongo.db().collection<{ _id: string }>('case_detail');
  const source = 'bench-raw';
  const pathOf = new Map<string, string>();
  const write = async (batch: GenNode[]) => {
    const row = (n: GenNode) => {
      const path = `${n.parentId ? pathOf.get(n.parentId) : ''}/${n.id}`;
      if (n.type === 'DIRECTORY') pathOf.set(n.id, path);
      return [
        'default',
        source,
        n.id,
        n.parentId,
        n.name,
        path,
        path.split('/').length - 1,
        0,
        contentHash(n),
        1,
        1,
        0,
      ];
    };
    const dirs = batch.filter((n) => n.type === 'DIRECTORY').map(row);
    const cs = batch.filter((n) => n.type === 'CASE');
    const cols =
      'tenant_id, source, id, PARENT, name, path, level, position, content_hash, version, seen_version, deleted';
    const update =
      'name = VALUES(name), path = VALUES(path), content_hash = VALUES(content_hash), seen_version = VALUES(seen_version)';
    const onDuplicate = how === 'upserts' ? ` ON DUPLICATE KEY UPDATE ${update}` : '';
    if (dirs.length)
      await db.query(
        `INSERT INTO test_directory (${cols.replace('PARENT', 'parent_id')}) VALUES ?${onDuplicate}`,
        [dirs],
      );
    if (cs.length) {
      await db.query(
        `INSERT INTO test_case (${cols.replace('PARENT', 'directory_id')}) VALUES ?${onDuplicate}`,
        [cs.map(row)],
      );
      const docs = cs.map((c) => ({
        _id: `default\u001f${source}\u001f${c.id}`,
        tenantId: 'default',
        source,
        caseId: c.id,
        name: c.name,
        content: c.content,
        metadata: c.metadata,
        contentHash: contentHash(c),
        version: 1,
        updatedAt: new Date(),
      }));
      if (how === 'inserts') await coll.insertMany(docs, { ordered: false });
      else
        await coll.bulkWrite(
          docs.map(({ _id, ...fields }) => ({
            updateOne: { filter: { _id }, update: { $set: fields }, upsert: true },
          })),
          { ordered: false },
        );
    }
  };
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  let dirsDone = false;
  for (const batch of batches(shapeFor(NODES), CHUNK)) {
    // Directories first, in order (their paths feed the cases); then WORKERS writers in parallel.
    if (!dirsDone && batch.some((n) => n.type === 'CASE')) {
      await Promise.all(inFlight);
      dirsDone = true;
    }
    const p = write(batch).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (!dirsDone || inFlight.size >= WORKERS) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  await db.end();
  await mongo.close();
  return seconds;
}

/** Platform: the whole path, as a user with a large tree would call it. */
async function platformImport(
  stack: Stack,
): Promise<{ seconds: number; uploaded: number; task: Record<string, unknown> }> {
  const started = performance.now();
  const open = await stack.request('POST', '/api/testcase/imports', { source: 'bench', mode: 'FULL' });
  if (open.status !== 201) throw new Error(`open failed: ${open.status} ${JSON.stringify(open.body)}`);
  const taskId = open.body.taskId as string;
  for (const part of batches(shapeFor(NODES), PART)) {
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

/** "label 1.2, …" of the CPU each process used between two readings, busiest first. */
function cpuUse(before: Map<string, number>, after: Map<string, number>): string {
  return [...after]
    .map(([label, total]): [string, number] => [label, total - (before.get(label) ?? 0)])
    .filter(([, used]) => used >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([label, used]) => `${label} ${used.toFixed(1)}`)
    .join(', ');
}

/** Empties the tree tables and MongoDB collections, so each measured run starts from the same state. */
async function wipe(stack: Stack): Promise<void> {
  const db = await mysql.createConnection({ uri: stack.env.MYSQL_URL });
  for (const t of ['test_directory', 'test_case', 'import_node']) await db.query(`TRUNCATE TABLE ${t}`);
  await db.end();
  const mongo = await new MongoClient(stack.env.MONGO_URL as string).connect();
  for (const c of [MONGO.caseDetail, MONGO.treeSnapshot])
    await mongo
      .db()
      .collection(c)
      .drop()
      .catch(() => undefined);
  await setupMongo(mongo.db(), 1);
  await mongo.close();
}

function mongoServerPid(): number[] {
  try {
    return [Number(readFileSync(resolve(__dirname, '../.mongo/mongod.pid'), 'utf8').trim())];
  } catch {
    return [];
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
  const memory = new ProcessMonitor(() => {
    const m = new Map<string, { pids?: number[]; pgid?: number }>();
    const names = {
      offline: 'serverless-offline (API)',
      workers: 'serverless-offline (workers)',
      bridge: 'rabbitmq bridge',
    };
    for (const [part, pgid] of stack.processGroups()) m.set(names[part], { pgid });
    m.set('bench driver', { pids: [process.pid] });
    m.set('mariadbd', { pids: pidsOf('mariadbd') });
    m.set('mongodb server', { pids: mongoServerPid() });
    m.set('rabbitmq (beam.smp)', { pids: pidsOf('beam.smp') });
    m.set('redis-server', { pids: pidsOf('redis-server') });
    return m;
  });
  try {
    memory.start();
    const total = { raw: 0, inserts: 0, platform: 0 };
    for (let round = 1; round <= ROUNDS; round += 1) {
      // Alternate the order so neither side always runs on a warmer (or fuller) machine.
      const sides = ['raw', 'inserts', 'platform'] as const;
      for (const side of round % 2 === 1 ? sides : [...sides].reverse()) {
        await wipe(stack);
        const cpuBefore = memory.cpu();
        if (side === 'platform') {
          const { seconds, uploaded } = await platformImport(stack);
          total.platform += seconds;
          console.log(
            `round ${round} platform ${(NODES / seconds).toFixed(0).padStart(7)} nodes/s  (${seconds.toFixed(1)} s; last part accepted at ${uploaded.toFixed(1)} s)`,
          );
        } else {
          const seconds = await rawWrite(stack, side === 'raw' ? 'upserts' : 'inserts');
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
    const peaks = memory.stop();
    console.log('peak RSS per process (and when the bench started):');
    for (const [label, bytes] of peaks) {
      const start = `(${((memory.atStart.get(label) ?? 0) / MB).toFixed(0)} MB)`;
      console.log(
        `  ${label.padEnd(32)} ${(bytes / MB).toFixed(0).padStart(5)} MB ${start.padStart(9)}${bytes > 512 * MB ? '  over 512 MB' : ''}`,
      );
    }
  } finally {
    memory.stop();
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
