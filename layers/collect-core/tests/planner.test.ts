import { describe, expect, it } from 'vitest';
import { chunk, split } from '../src/planner';

describe('chunk', () => {
  it('cuts items into full chunks and one remainder, in order, lazily', () => {
    expect([...chunk([1, 2, 3, 4, 5], 2)]).toEqual([[1, 2], [3, 4], [5]]);
    let pulled = 0;
    const it = chunk(
      (function* () {
        for (let i = 0; i < 100; i += 1) {
          pulled += 1;
          yield i;
        }
      })(),
      10,
    );
    it.next();
    expect(pulled).toBe(10);
    expect(() => [...chunk([1], 0)]).toThrow(RangeError);
  });
});

describe('split', () => {
  it('makes at most n contiguous, near-equal, non-empty groups', () => {
    expect(split([1, 2, 3, 4, 5], 2)).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    expect(split([1, 2], 5)).toEqual([[1], [2]]);
    expect(split([], 3)).toEqual([]);
  });
});
