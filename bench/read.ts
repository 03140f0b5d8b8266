/**
 * `npm run bench:read` — reading a 1,000-node subtree of a 100,000-node tree, side by side in
 * one run: with 1 retained version and with 5, each with a cold and a warm cache.
 *
 * The tree: a root with BENCH_READ_TOPS directories, each with 10 directories of 99 cases
 * (1,001 nodes under each top directory). It is imported through the platform's own path, in
 * process (an import in parts: parts → chunk shards → the worker's page store), and read with
 * the API's reader (`readTree`, depth 3 from a top directory: the whole 1,001 nodes), so the
 * figures are the stores' and the reader's, not serverless-offline's.
 *
 * The "5 versions" side: 4 more versions, each renaming every node under the read subtrees
 * (INCREMENTAL upserts), so each read node has 5 rows, the worst case for a reader that has to
 * pick the row of its version. Cold = the subtree's cache entry deleted before each read;
 * warm = read again with it cached. Prints p50 / p99 per case, and the ratios 5 ÷ 1.
 *
 * Env: BENCH_READS (200 per case), BENCH_READ_TOPS (100), plus the service URLs of the README.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { applyChunk } from '../functions/collect/src/app/apply-chunk';
import { addPart, commitImport, openImport } from '../functions/collect/src/app/import-parts';
import { readTree } from '../functions/collect/src/app/read-tree';
import { submitImport } from '../functions/collect/src/app/submit-import';
import { createTestEnv, decodeShard, type TestEnv, takeShardMessages } from '../tests/support/test-env';

const READS = Number(process.env.BENCH_READS ?? 200);
const TOPS = Number(process.env.BENCH_READ_TOPS ?? 100);
const SOURCE = 'bench-read';
const TENANT = 'default';
/** The top directories whose subtrees are read (and renamed in each later version). */
const READ = Array.from({ length: Math.min(10, TOPS) }, (_, i) => `t${i}`);

interface Node {
  id: string;
  type: 'DIRECTORY' | 'CASE';
  name: string;
  parentId: string | null;
  content?: { description: string; steps: { action: string; expected: string }[] };
  metadata?: { tags: string[]; priority: string };
}

/** The nodes under top directory `t` (itself included), parents first. */
function* subtree(t: number, tag = ''): Generator<Node> {
  yield { id: `t${t}`, type: 'DIRECTORY', name: `Top ${t}${tag}`, parentId: 'root' };
  for (let s = 0; s < 10; s += 1) {
    const sub = `t${t}-s${s}`;
    yield { id: sub, type: 'DIRECTORY', name: `Suite ${t}.${s}${tag}`, parentId: `t${t}` };
    for (let c = 0; c < 99; c += 1)
      yield {
        id: `${sub}-c${c}`,
        type: 'CASE',
        name: `Case ${t}.${s}.${c}${tag}`,
        parentId: sub,
        content: {
          description: `checks ${t}.${s}.${c}: login, cart and payment in one flow`,
          steps: [
            { action: 'open the page', expected: 'it shows' },
            { action: 'submit the form', expected: 'it is saved' },
          ],
        },
        metadata: { tags: ['regression'], priority: `P${c % 4}` },
      };
  }
}

/** Runs every import shard waiting on the queue, as the chunk worker does. */
async function drain(env: TestEnv): Promise<void> {
  for (;;) {
    const messages = await takeShardMessages(env);
    if (messages.length === 0) return;
    for (const m of messages) await applyChunk(env.services, decodeShard(m));
  }
}

async function importTree(env: TestEnv): Promise<void> {
  const { taskId } = await openImport(env.services, TENANT, SOURCE);
  await addPart(env.services, TENANT, taskId, [
    { id: 'root', type: 'DIRECTORY', name: 'Root', parentId: null },
  ]);
  for (let t = 0; t < TOPS; t += 1) {
    // A part per top directory (1,001 nodes), each node naming its parent.
    await addPart(env.services, TENANT, taskId, [...subtree(t)]);
    await drain(env);
  }
  await commitImport(env.services, TENANT, taskId);
  await drain(env);
}

/** A version that renames every node under the read subtrees (one INCREMENTAL import, merged). */
async function renameVersion(env: TestEnv, tag: string): Promise<void> {
  const upserts = READ.flatMap((top) =>
    [...subtree(Number(top.slice(1)), tag)].map(({ id, type, name, parentId }) => ({
      id,
      type,
      name,
      parentId,
    })),
  );
  await submitImport(env.services, TENANT, { source: SOURCE, mode: 'INCREMENTAL', upserts, deletes: [] });
  await drain(env);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

async function measure(env: TestEnv, cold: boolean): Promise<{ p50: number; p99: number }> {
  const deps = { ...env.services, maxNodes: 20_000 };
  const times: number[] = [];
  for (let i = 0; i < READS; i += 1) {
    const rootId = READ[i % READ.length] as string;
    if (cold) {
      const keys = await env.redis.keys(`${env.config.REDIS_PREFIX}tree/*`);
      if (keys.length > 0) await env.redis.del(...keys.map((k) => k.slice(env.config.REDIS_PREFIX.length)));
    }
    const started = performance.now();
    const read = await readTree(deps, TENANT, { source: SOURCE, rootId, depth: 3 });
    times.push(performance.now() - started);
    const nodes = JSON.stringify(read.tree).split('"id"').length - 1;
    if (nodes !== 1001) throw new Error(`read ${nodes} nodes under ${rootId}, not 1001`);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function measureAll(env: TestEnv, label: string) {
  // Alternate cold and warm twice, so neither always runs on a warmer machine.
  const out = { cold: [] as { p50: number; p99: number }[], warm: [] as { p50: number; p99: number }[] };
  for (const cold of [true, false, false, true]) out[cold ? 'cold' : 'warm'].push(await measure(env, cold));
  const avg = (xs: { p50: number; p99: number }[]) => ({
    p50: xs.reduce((s, x) => s + x.p50, 0) / xs.length,
    p99: xs.reduce((s, x) => s + x.p99, 0) / xs.length,
  });
  const result = { cold: avg(out.cold), warm: avg(out.warm) };
  for (const k of ['cold', 'warm'] as const)
    console.log(
      `${label.padEnd(12)} ${k}  p50 ${result[k].p50.toFixed(2).padStart(7)} ms  p99 ${result[k].p99.toFixed(2).padStart(7)} ms`,
    );
  return result;
}

async function main(): Promise<void> {
  execFileSync('bash', [resolve(__dirname, '../scripts/services.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const env = await createTestEnv({ IMPORT_CHUNK_SIZE: '1000', TREE_VERSIONS_KEEP: '5', LOG_LEVEL: 'warn' });
  try {
    const started = performance.now();
    await importTree(env);
    console.log(
      `bench:read — a tree of ${1 + TOPS * 1001} nodes imported in ${((performance.now() - started) / 1000).toFixed(1)} s; ${READS} reads of a 1,001-node subtree per case`,
    );
    const one = await measureAll(env, '1 version');
    for (const tag of [' v2', ' v3', ' v4', ' v5']) await renameVersion(env, tag);
    const five = await measureAll(env, '5 versions');
    for (const k of ['cold', 'warm'] as const)
      console.log(
        `ratio ${k}   p50 ${(five[k].p50 / one[k].p50).toFixed(2)}  p99 ${(five[k].p99 / one[k].p99).toFixed(2)}  (5 versions ÷ 1)`,
      );
  } finally {
    await env.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
