import { describe, expect, it } from 'vitest';
import { collectorRoute, delayTier, partitionOf, partitionQueues } from '../src/queue/topology';

describe('collector routes and their partitions', () => {
  it('names a version route type@version and refuses one that would read as a partition', () => {
    expect(collectorRoute('testrail', '1.2')).toBe('testrail@1.2');
    expect(() => collectorRoute('testrail', '1.p0')).toThrow(/not a collector route/);
    expect(() => collectorRoute('Test Rail', '1')).toThrow(/not a collector route/);
  });

  it('keeps the route itself as the queue of one partition, and suffixes several', () => {
    const route = collectorRoute('testrail', '1');
    expect(partitionQueues(route, 1)).toEqual(['testrail@1']);
    expect(partitionQueues(route, 3)).toEqual(['testrail@1.p0', 'testrail@1.p1', 'testrail@1.p2']);
    expect(() => partitionQueues(route, 0)).toThrow(/from 1 to 64/);
    expect(() => partitionQueues(route, 1.5)).toThrow(/from 1 to 64/);
  });

  it('puts a key in the same partition every time and spreads many keys over all of them', () => {
    expect(partitionOf('task#7', 4)).toBe(partitionOf('task#7', 4));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i += 1) counts[partitionOf(`task-${i % 40}#${i}`, 4)] += 1;
    // Uniform would be 1,000 each; FNV-1a of these keys stays well within a fifth of it.
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(200);
    expect(partitionOf('anything', 1)).toBe(0);
  });

  it('waits first in the largest delay tier not above the delay', () => {
    expect(delayTier(0)).toBe(250);
    expect(delayTier(1500)).toBe(1000);
    expect(delayTier(10 * 60_000)).toBe(600_000);
  });
});
