import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { watchFunctionLimits } from '../src/flow-watcher';
import { waitFor } from './helpers';

const prefix = `bridge_${randomBytes(4).toString('hex')}:`;
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0', { keyPrefix: prefix });

afterAll(async () => {
  await redis.del('flow/limits', 'flow/version');
  await redis.quit();
});

async function publish(limits: Record<string, unknown>) {
  const m = redis.multi().del('flow/limits');
  if (Object.keys(limits).length > 0)
    m.hset('flow/limits', Object.fromEntries(Object.entries(limits).map(([k, v]) => [k, JSON.stringify(v)])));
  await m.incr('flow/version').exec();
}

describe('the bridge watching flow limits', () => {
  it("applies each function's concurrency as it is published, and none once it is deleted", async () => {
    const seen: ReadonlyMap<string, number>[] = [];
    await publish({ 'function:runShardTestrail1': { concurrency: 1 }, 'host:x': { concurrency: 9 } });
    const watcher = watchFunctionLimits({
      redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0',
      prefix,
      everyMs: 20,
      apply: (limits) => seen.push(limits),
    });
    try {
      await waitFor('the first limits', async () => seen.length >= 1);
      expect([...(seen.at(-1) ?? [])]).toEqual([['runShardTestrail1', 1]]);
      await publish({
        'function:runShardTestrail1': { concurrency: 4 },
        'function:importChunk': { concurrency: 0 },
      });
      await waitFor('the change', async () => seen.length >= 2);
      expect(Object.fromEntries(seen.at(-1) ?? [])).toEqual({ runShardTestrail1: 4, importChunk: 0 });
      await publish({});
      await waitFor('the deletion', async () => seen.length >= 3);
      expect(seen.at(-1)?.size).toBe(0);
    } finally {
      await watcher.stop();
    }
  });

  it('keeps the limits in force when Redis loses them (restarted empty), until they are published again', async () => {
    const seen: ReadonlyMap<string, number>[] = [];
    const versions: (string | null)[] = [];
    await publish({ 'function:runShardTestrail1': { concurrency: 0 } });
    const watcher = watchFunctionLimits({
      redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0',
      prefix,
      everyMs: 20,
      apply: (limits) => seen.push(limits),
      onChecked: (v) => versions.push(v),
    });
    try {
      await watcher.firstRead;
      expect(Object.fromEntries(seen.at(-1) ?? [])).toEqual({ runShardTestrail1: 0 });
      await redis.del('flow/limits', 'flow/version');
      const checked = versions.length;
      await waitFor(
        'checks that find no version',
        () => versions.slice(checked).filter((v) => v === null).length >= 3,
      );
      expect(seen).toHaveLength(1);
      await publish({
        'function:runShardTestrail1': { concurrency: 0 },
        'function:importChunk': { concurrency: 1 },
      });
      await waitFor('the limits published again', async () => seen.length >= 2);
      expect(Object.fromEntries(seen.at(-1) ?? [])).toEqual({ runShardTestrail1: 0, importChunk: 1 });
    } finally {
      await watcher.stop();
    }
  });

  it('says once that nothing is published yet, and applies the limits when they are', async () => {
    await redis.del('flow/limits', 'flow/version');
    const seen: ReadonlyMap<string, number>[] = [];
    const versions: (string | null)[] = [];
    let unknown = 0;
    const watcher = watchFunctionLimits({
      redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0',
      prefix,
      everyMs: 20,
      apply: (limits) => seen.push(limits),
      onUnknown: () => {
        unknown += 1;
      },
      onChecked: (v) => versions.push(v),
    });
    try {
      await waitFor('checks that find no version', () => versions.length >= 3);
      expect(unknown).toBe(1);
      expect(seen).toEqual([]);
      const first = await Promise.race([watcher.firstRead.then(() => 'read'), Promise.resolve('none')]);
      expect(first).toBe('none');
      await publish({});
      await watcher.firstRead;
      expect(seen).toHaveLength(1);
      expect(seen[0]?.size).toBe(0);
    } finally {
      await watcher.stop();
    }
  });

  it('does not report a first read while Redis is unreachable', async () => {
    const errors: unknown[] = [];
    const watcher = watchFunctionLimits({
      redisUrl: 'redis://127.0.0.1:1/0',
      prefix,
      everyMs: 20,
      apply: () => undefined,
      onError: (err) => errors.push(err),
    });
    try {
      await waitFor('a failed check', () => errors.length >= 1);
      const first = await Promise.race([watcher.firstRead.then(() => 'read'), Promise.resolve('none')]);
      expect(first).toBe('none');
    } finally {
      await watcher.stop();
    }
  });
});
