import { describe, expect, it } from 'vitest';
import { chunk, shardId } from '../src/planner';

describe('chunk', () => {
  it('cuts items into full chunks and one remainder, in order', () => {
    expect([...chunk([1, 2, 3, 4, 5], 2)]).toEqual([[1, 2], [3, 4], [5]]);
  });
  it('yields nothing for no items', () => {
    expect([...chunk([], 3)]).toEqual([]);
  });
  it('pulls items lazily, one chunk at a time', () => {
    let pulled = 0;
    function* source() {
      for (let i = 0; i < 100; i += 1) {
        pulled += 1;
        yield i;
      }
    }
    const it = chunk(source(), 10);
    it.next();
    expect(pulled).toBe(10);
  });
  it('rejects a size that is not a positive integer', () => {
    expect(() => [...chunk([1], 0)]).toThrow(RangeError);
    expect(() => [...chunk([1], 1.5)]).toThrow(RangeError);
  });
  it('names shards after their task and number', () => {
    expect(shardId('t1', 3)).toBe('t1#3');
  });
});
