import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../support/stack';
import { liveTree } from '../support/stores';
import { dir, flatten, kase } from '../support/tree-fixtures';
import { waitFor } from '../support/wait';

/*
 * The stores themselves crash (kill -9) in the middle of an import and come back: the import
 * still ends with exactly its input. This kills the local MariaDB and Redis servers, so it needs
 * them local (as on this machine kind and in CI); scripts/services.sh starts them again.
 */
const stack = new Stack(3120, { IMPORT_CHUNK_SIZE: '20', BRIDGE_RETRY_DELAY_MS: '200' });
const ROOT = resolve(__dirname, '../..');

beforeAll(async () => {
  for (const url of [process.env.MYSQL_URL, process.env.REDIS_URL]) {
    if (url && !/@?(127\.0\.0\.1|localhost)[:/]/.test(url))
      throw new Error(`this test kills local servers; ${url} is not local`);
  }
  await stack.start();
});
afterAll(async () => {
  execFileSync('bash', [resolve(ROOT, 'scripts/services.sh')], { stdio: 'ignore' });
  await stack.stop();
});

/**
 * kill -9, then wait until the process is gone: pkill only sends the signal, and a server that
 * still holds its port for a moment would look "up" to services.sh, which would not restart it.
 */
async function killServer(name: string): Promise<void> {
  execFileSync('pkill', ['-9', '-x', name]);
  await waitFor(`${name} to exit`, async () =>
    spawnSync('pgrep', ['-x', name]).status === 1 ? true : undefined,
  );
}

describe('a store crashing in the middle of an import', () => {
  it('completes with exactly the input after MariaDB and Redis are killed and restarted', async () => {
    const tree = dir(
      'root',
      'Root',
      Array.from({ length: 40 }, (_, d) =>
        dir(
          `d${d}`,
          `Dir ${d}`,
          Array.from({ length: 30 }, (_, c) => kase(`d${d}-c${c}`, `Case ${d}.${c}`)),
        ),
      ),
    );
    const total = 1 + 40 * 31; // 1241 nodes, 63 shards of 20
    const res = await stack.request('POST', '/api/testcase/import', {
      source: 'store-crash',
      mode: 'FULL',
      tree,
    });
    expect(res.status).toBe(202);
    const atKill = await waitFor('some shards to complete', async () => {
      const t = (await stack.request('GET', `/api/tasks/${res.body.taskId}`)).body;
      return t.progress?.doneShards >= 2 ? t.progress : undefined;
    });
    await Promise.all([killServer('mariadbd'), killServer('redis-server')]);
    expect(atKill.doneShards, 'the crash must come before the end of the import').toBeLessThan(
      atKill.totalShards,
    );
    execFileSync('bash', [resolve(ROOT, 'scripts/services.sh')], { stdio: 'ignore' });

    const task = await stack.settledTask(res.body.taskId, 240_000);
    expect(task.state, JSON.stringify(task)).toBe('COMPLETED');
    expect(task.progress).toMatchObject({ totalNodes: total, doneNodes: total, failedNodes: 0 });
    const db = await mysql.createConnection({ uri: stack.env.MYSQL_URL });
    const live = await liveTree(db, 'store-crash');
    await db.end();
    expect(live).toEqual(flatten(tree).sort());
    const mongo = await new MongoClient(stack.env.MONGO_URL as string).connect();
    expect(await mongo.db().collection('case_detail').countDocuments({ source: 'store-crash' })).toBe(1200);
    await mongo.close();
  });
});
