import { describe, expect, it } from 'vitest';
import { dependantsOf, findCycle } from '../../src/domain/dag';

const graph = (o: Record<string, string[]>) => new Map(Object.entries(o));

describe('job dependencies', () => {
  it('finds no cycle in a DAG, even a diamond', () => {
    expect(findCycle(graph({ a: [], b: ['a'], c: ['a'], d: ['b', 'c'] }))).toBeNull();
  });

  it('names the cycle it finds, closed', () => {
    expect(findCycle(graph({ a: ['c'], b: ['a'], c: ['b'] }))).toEqual(['a', 'c', 'b', 'a']);
    expect(findCycle(graph({ a: ['a'] }))).toEqual(['a', 'a']);
    expect(findCycle(graph({ x: [], a: ['b'], b: ['c'], c: ['b'] }))).toEqual(['b', 'c', 'b']);
  });

  it('handles a chain far longer than a recursive search could', () => {
    const chain: Record<string, string[]> = { j0: [] };
    for (let i = 1; i < 100_000; i += 1) chain[`j${i}`] = [`j${i - 1}`];
    expect(findCycle(graph(chain))).toBeNull();
    chain.j0 = ['j99999'];
    expect(findCycle(graph(chain))?.length).toBe(100_001);
  });

  it('lists the direct dependants of a job', () => {
    expect(dependantsOf(graph({ a: [], c: ['a'], b: ['a'], d: ['b'] }), 'a')).toEqual(['b', 'c']);
  });
});
