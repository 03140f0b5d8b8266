import { describe, expect, it } from 'vitest';
import { bucketOf, versionFor } from '../../src/domain/gray';

describe('gray release', () => {
  it('routes about `percent` of runs to the candidate (30 % of 10,000 keys within 3 points)', () => {
    const release = { stable: '1', candidate: { version: '2', percent: 30 } };
    let candidate = 0;
    for (let i = 0; i < 10_000; i += 1) if (versionFor(release, 't', `task-${i}`) === '2') candidate += 1;
    expect(candidate / 10_000).toBeGreaterThan(0.27);
    expect(candidate / 10_000).toBeLessThan(0.33);
  });

  it('routes the same run the same way every time', () => {
    const release = { stable: '1', candidate: { version: '2', percent: 50 } };
    for (let i = 0; i < 100; i += 1)
      expect(versionFor(release, 't', `k${i}`)).toBe(versionFor(release, 't', `k${i}`));
    expect(bucketOf('k1')).toBe(bucketOf('k1'));
  });

  it('routes exactly the listed tenants, and nothing at 0 % or without a candidate', () => {
    const release = { stable: '1', candidate: { version: '2', percent: 0, tenants: ['acme'] } };
    expect(versionFor(release, 'acme', 'x')).toBe('2');
    for (let i = 0; i < 1000; i += 1) expect(versionFor(release, 'other', `k${i}`)).toBe('1');
    expect(versionFor({ stable: '1' }, 'acme', 'x')).toBe('1');
    expect(versionFor({ stable: '1', candidate: { version: '2', percent: 100 } }, 'any', 'x')).toBe('2');
  });
});
